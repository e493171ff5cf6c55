/* Run-time version and status texts. */
#include "diffuse/common.h"

DIFFUSE_API unsigned diffuse_version_number(void)
{
    return DIFFUSE_VERSION_NUMBER;
}

DIFFUSE_API const char *diffuse_version_string(void)
{
    return DIFFUSE_VERSION_STRING;
}

typedef struct status_text {
    const char *name;
    const char *text;
} status_text;

/* Indexed by status value; the enum's values are fixed, so is this table. */
static const status_text status_texts[] = {
    {"DIFFUSE_OK", "success"},
    {"DIFFUSE_ERROR_INVALID_ARGUMENT", "invalid argument"},
    {"DIFFUSE_ERROR_OUT_OF_RANGE", "value out of range"},
    {"DIFFUSE_ERROR_NO_MEMORY", "out of memory"},
    {"DIFFUSE_ERROR_STATE", "operation not allowed in the current state"},
    {"DIFFUSE_ERROR_NUMERIC", "non-finite number"},
    {"DIFFUSE_ERROR_IO", "input/output error"},
    {"DIFFUSE_ERROR_FORMAT", "corrupt or unsupported file"},
    {"DIFFUSE_ERROR_CALLBACK", "user callback failed"},
    {"DIFFUSE_ERROR_CANCELLED", "cancelled by callback"},
    {"DIFFUSE_ERROR_MISMATCH", "incompatible sizes or configuration"},
    {"DIFFUSE_ERROR_UNSUPPORTED", "unsupported operation"},
};

static const status_text *lookup(int status)
{
    if (status < 0 || (size_t)status >= sizeof status_texts / sizeof status_texts[0])
        return NULL;
    return &status_texts[status];
}

DIFFUSE_API const char *diffuse_status_string(int status)
{
    const status_text *entry = lookup(status);
    return entry != NULL ? entry->text : "unknown status";
}

DIFFUSE_API const char *diffuse_status_name(int status)
{
    const status_text *entry = lookup(status);
    return entry != NULL ? entry->name : "DIFFUSE_UNKNOWN_STATUS";
}
