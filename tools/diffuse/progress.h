/* Progress lines with an ETA on stderr, and Ctrl-C as a request to stop
 * (tools/diffuse, not part of libdiffuse). On a terminal the line is
 * redrawn in place at most 5 times a second; otherwise a line is printed
 * at every tenth of the work. */
#ifndef DIFFUSE_CLI_PROGRESS_H
#define DIFFUSE_CLI_PROGRESS_H

#include <stdint.h>

typedef struct progress {
    const char *what;       /* "step", "sampling step" */
    uint64_t first, target; /* done at the start, done at the end */
    double start, last;     /* seconds (monotonic) */
    uint64_t last_tenth;
    int terminal, quiet, drawn;
} progress;

void progress_start(progress *p, const char *what, uint64_t first, uint64_t target, int quiet);
/* Reports `done` units; `loss` is shown unless it is NaN. */
void progress_update(progress *p, uint64_t done, double loss);
/* Ends the line (a terminal's redrawn one). */
void progress_end(progress *p);

/* From now on SIGINT (Ctrl-C) and SIGTERM only set a flag that
 * progress_interrupted() reads; a second one ends the process at once. */
void progress_catch_interrupts(void);
int progress_interrupted(void);

/* Seconds on the monotonic clock. */
double progress_now(void);

#endif
