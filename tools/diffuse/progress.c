/* Progress lines and interrupts (see progress.h). */
#include "progress.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_interrupt(int signal_number)
{
    if (interrupted)
        _exit(128 + signal_number);
    interrupted = 1;
}

void progress_catch_interrupts(void)
{
    struct sigaction action = {0};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int progress_interrupted(void)
{
    return interrupted != 0;
}

double progress_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

void progress_start(progress *p, const char *what, uint64_t first, uint64_t target, int quiet)
{
    *p = (progress){what, first, target, progress_now(), 0.0, 0, isatty(STDERR_FILENO), quiet, 0};
}

/* "1:02:03" or "2:03". */
static void format_duration(double seconds, char *buffer, size_t size)
{
    unsigned long s = seconds > 0 && seconds < 1e9 ? (unsigned long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(buffer, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buffer, size, "%lu:%02lu", s / 60, s % 60);
}

static void draw(progress *p, uint64_t done, double loss, double now)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)(done - p->first) / elapsed : 0.0;
    char eta[32] = "?", spent[32];
    if (rate > 0)
        format_duration((double)(p->target - done) / rate, eta, sizeof eta);
    format_duration(elapsed, spent, sizeof spent);
    fprintf(stderr, "%s%s %llu/%llu (%3.0f%%)", p->terminal ? "\r" : "", p->what,
            (unsigned long long)done, (unsigned long long)p->target,
            p->target ? 100.0 * (double)done / (double)p->target : 100.0);
    if (!isnan(loss))
        fprintf(stderr, "  loss %.5f", loss);
    fprintf(stderr, "  %.1f/s  elapsed %s  ETA %s%s", rate, spent, eta, p->terminal ? "   " : "\n");
    p->drawn = 1;
}

void progress_update(progress *p, uint64_t done, double loss)
{
    if (p->quiet)
        return;
    double now = progress_now();
    uint64_t span = p->target > p->first ? p->target - p->first : 1;
    uint64_t tenth = (done - p->first) * 10 / span;
    if (p->terminal ? now - p->last >= 0.2 || done == p->target : tenth > p->last_tenth) {
        p->last = now;
        p->last_tenth = tenth;
        draw(p, done, loss, now);
    }
}

void progress_end(progress *p)
{
    if (!p->quiet && p->terminal && p->drawn)
        fputc('\n', stderr);
}
