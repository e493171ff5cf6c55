/* Warnings to the caller's log function (internal; diffuse_set_log in
 * include/diffuse/common.h). */
#ifndef DIFFUSE_SRC_LOG_H
#define DIFFUSE_SRC_LOG_H

/* Formats one warning and hands it to the log function, if one is set. */
void log_warning(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
