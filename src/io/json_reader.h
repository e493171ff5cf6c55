/* A JSON reader for safetensors headers (internal): the lexical layer —
 * white space, punctuation, strings and numbers — over a text in memory,
 * without recursion and with one allocation made by the caller (the
 * arena). src/io/safetensors.c builds the header's fixed structure on it.
 *
 * Why not a JSON library: the header is a fixed, shallow structure, and a
 * library that allocates per token must report every failed allocation.
 * Jansson (used before) does not: under memory pressure its lexer drops a
 * byte of a string or a number and parses on, so a valid file could load
 * with a changed value ("0.9" as 0.90000000000000024) or be called
 * corrupt. This reader does not allocate at all.
 *
 * Strings are decoded into the arena: NUL-terminated, escapes resolved
 * (\uXXXX with surrogate pairs to UTF-8), the result valid UTF-8 without
 * NUL bytes. A decoded string plus its NUL never needs more bytes than its
 * source including the quotes, so an arena as large as the text suffices. */
#ifndef DIFFUSE_SRC_JSON_READER_H
#define DIFFUSE_SRC_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct json_reader {
    const char *text;
    size_t size;
    size_t at;    /* next byte to read; on a syntax error, where it is */
    char *arena;  /* at least `size` bytes, owned by the caller */
    size_t arena_used;
} json_reader;

/* Skips JSON white space (space, tab, line feed, carriage return). */
void json_skip_space(json_reader *r);

/* Skips white space; consumes `c` and returns true when it comes next. */
bool json_take(json_reader *r, char c);

/* Skips white space; true when the next byte is `c` (not consumed). */
bool json_next_is(json_reader *r, char c);

/* A string at the current position (after white space), decoded into the
 * arena: *out points at it. *raw_at is the offset in the text of its first
 * byte after the opening quote, *raw_size the number of bytes up to the
 * closing quote. False on malformed input (r->at tells where). */
bool json_read_string(json_reader *r, const char **out, size_t *raw_at, size_t *raw_size);

/* What json_read_number found. */
typedef enum json_number_kind {
    JSON_NUMBER_INVALID = 0, /* not a number token */
    JSON_NUMBER_COUNT = 1,   /* an integer in [0, INT64_MAX], in *count */
    JSON_NUMBER_OTHER = 2    /* a number, but negative, fractional or too large */
} json_number_kind;

json_number_kind json_read_number(json_reader *r, uint64_t *count);

/* Length of the JSON number -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * at the start of `text` (at most `size` bytes), 0 if there is none. */
size_t json_number_length(const char *text, size_t size);

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past
 * U+10FFFF, NUL-terminated. */
bool json_utf8_valid(const char *text);

#endif
