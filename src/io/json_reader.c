/* JSON lexing for safetensors headers (see json_reader.h). */
#include "io/json_reader.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

void json_skip_space(json_reader *r)
{
    while (r->at < r->size) {
        char c = r->text[r->at];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        r->at++;
    }
}

bool json_next_is(json_reader *r, char c)
{
    json_skip_space(r);
    return r->at < r->size && r->text[r->at] == c;
}

bool json_take(json_reader *r, char c)
{
    if (!json_next_is(r, c))
        return false;
    r->at++;
    return true;
}

/* Four hex digits at r->at into *code. */
static bool read_hex4(json_reader *r, uint32_t *code)
{
    if (r->size - r->at < 4)
        return false;
    uint32_t value = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->text[r->at + (size_t)i];
        uint32_t digit;
        if (is_digit(c))
            digit = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            digit = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            digit = (uint32_t)(c - 'A' + 10);
        else
            return false;
        value = value << 4 | digit;
    }
    r->at += 4;
    *code = value;
    return true;
}

/* After "\u": one code point, a surrogate pair as "\uD8xx\uDCxx"; lone
 * surrogates and U+0000 are refused (the header's strings are C strings). */
static bool read_code_point(json_reader *r, uint32_t *code)
{
    uint32_t high;
    if (!read_hex4(r, &high) || high == 0 || (high >= 0xDC00 && high <= 0xDFFF))
        return false;
    if (high < 0xD800 || high > 0xDBFF) {
        *code = high;
        return true;
    }
    uint32_t low;
    if (r->size - r->at < 2 || r->text[r->at] != '\\' || r->text[r->at + 1] != 'u')
        return false;
    r->at += 2;
    if (!read_hex4(r, &low) || low < 0xDC00 || low > 0xDFFF)
        return false;
    *code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    return true;
}

static void put_utf8(json_reader *r, uint32_t code)
{
    char *out = r->arena + r->arena_used;
    if (code < 0x80) {
        out[0] = (char)code;
        r->arena_used += 1;
    } else if (code < 0x800) {
        out[0] = (char)(0xC0 | code >> 6);
        out[1] = (char)(0x80 | (code & 0x3F));
        r->arena_used += 2;
    } else if (code < 0x10000) {
        out[0] = (char)(0xE0 | code >> 12);
        out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code & 0x3F));
        r->arena_used += 3;
    } else {
        out[0] = (char)(0xF0 | code >> 18);
        out[1] = (char)(0x80 | ((code >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[3] = (char)(0x80 | (code & 0x3F));
        r->arena_used += 4;
    }
}

/* One escape after the backslash, decoded into the arena. */
static bool read_escape(json_reader *r)
{
    if (r->at >= r->size)
        return false;
    char c = r->text[r->at++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    for (size_t i = 0; i < sizeof from - 1; i++) {
        if (c == from[i]) {
            r->arena[r->arena_used++] = to[i];
            return true;
        }
    }
    uint32_t code;
    if (c != 'u' || !read_code_point(r, &code))
        return false;
    put_utf8(r, code);
    return true;
}

bool json_read_string(json_reader *r, const char **out, size_t *raw_at, size_t *raw_size)
{
    if (!json_take(r, '"'))
        return false;
    size_t begin = r->at, start = r->arena_used;
    while (r->at < r->size) {
        unsigned char c = (unsigned char)r->text[r->at];
        if (c == '"') {
            r->arena[r->arena_used++] = '\0';
            *out = r->arena + start;
            *raw_at = begin;
            *raw_size = r->at - begin;
            r->at++;
            /* Raw bytes were copied as they are: check the result. */
            return json_utf8_valid(*out);
        }
        if (c < 0x20) /* control characters must be escaped */
            return false;
        r->at++;
        if (c == '\\') {
            if (!read_escape(r))
                return false;
        } else {
            r->arena[r->arena_used++] = (char)c;
        }
    }
    return false;
}

size_t json_number_length(const char *text, size_t size)
{
    size_t i = 0;
    if (i < size && text[i] == '-')
        i++;
    if (i >= size || !is_digit(text[i]))
        return 0;
    if (text[i] == '0')
        i++;
    else
        while (i < size && is_digit(text[i]))
            i++;
    if (i < size && text[i] == '.') {
        if (++i >= size || !is_digit(text[i]))
            return 0;
        while (i < size && is_digit(text[i]))
            i++;
    }
    if (i < size && (text[i] == 'e' || text[i] == 'E')) {
        if (++i < size && (text[i] == '+' || text[i] == '-'))
            i++;
        if (i >= size || !is_digit(text[i]))
            return 0;
        while (i < size && is_digit(text[i]))
            i++;
    }
    /* "01" is not a number followed by "1": a digit may not follow. */
    return i < size && is_digit(text[i]) ? 0 : i;
}

json_number_kind json_read_number(json_reader *r, uint64_t *count)
{
    json_skip_space(r);
    const char *text = r->text + r->at;
    size_t length = json_number_length(text, r->size - r->at);
    if (length == 0)
        return JSON_NUMBER_INVALID;
    r->at += length;
    uint64_t value = 0;
    for (size_t i = 0; i < length; i++) {
        if (!is_digit(text[i]) || value > ((uint64_t)INT64_MAX - (uint64_t)(text[i] - '0')) / 10)
            return JSON_NUMBER_OTHER; /* '-', '.', 'e' or beyond INT64_MAX */
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    *count = value;
    return JSON_NUMBER_COUNT;
}

bool json_utf8_valid(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p != '\0') {
        unsigned lead = *p;
        size_t extra;
        uint32_t code, smallest;
        if (lead < 0x80) {
            p++;
            continue;
        }
        if ((lead & 0xE0) == 0xC0) {
            extra = 1, code = lead & 0x1F, smallest = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            extra = 2, code = lead & 0x0F, smallest = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            extra = 3, code = lead & 0x07, smallest = 0x10000;
        } else {
            return false;
        }
        /* A NUL terminator fails the continuation test, so no over-read. */
        for (size_t i = 1; i <= extra; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            code = (code << 6) | (p[i] & 0x3F);
        }
        if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return false;
        p += extra + 1;
    }
    return true;
}
