/* Crash consistency: a training process that saves its checkpoint after
 * every step is SIGKILLed at 50 moments spread over steps and saves
 * (crash_train.c). After every kill the file at the path must be a complete
 * checkpoint of some step at or after the previous one (it loads, checksum
 * included), and temporary files must not pile up next to it (at most the
 * one of a writer killed just before its rename, which the next save
 * removes); finally, resuming from it to the end must give the bits of a
 * run that was never interrupted. */
#include <check.h>
#include <diffuse/diffuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_support.h"

enum { TRIALS = 50 };
#define STEPS 1500
#define STEPS_TEXT "1500"


/* Starts crash_train on `path`, its stdout into a pipe (*out_fd). */
static pid_t start(const char *path, const char *steps, int *out_fd)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        execl(DIFFUSE_CRASH_TRAIN, DIFFUSE_CRASH_TRAIN, path, steps, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

/* Runs crash_train to the end; returns its "digest 0x…" line. */
static void run_to_end(const char *path, const char *steps, char *digest, size_t size)
{
    int fd;
    pid_t pid = start(path, steps, &fd);
    ssize_t got = read(fd, digest, size - 1);
    close(fd);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "crash_train failed");
    ck_assert_int_gt(got, 0);
    digest[got] = '\0';
}

/* The step count of the checkpoint at `path` (which must load). */
static uint64_t checkpoint_step(const char *path)
{
    diffuse_test_handles h = {NULL, NULL, NULL, NULL};
    diffuse_status status = diffuse_trainer_load(path, &h.model, &h.schedule, &h.optimizer,
                                                 &h.trainer);
    ck_assert_msg(status == DIFFUSE_OK, "the checkpoint after a kill does not load: %s",
                  diffuse_last_error());
    uint64_t step;
    ck_assert_int_eq(diffuse_trainer_step_count(h.trainer, &step), DIFFUSE_OK);
    diffuse_test_handles_free(&h);
    return step;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_seconds(double seconds)
{
    struct timespec delay = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&delay, NULL);
}

/* Seconds crash_train takes to run `steps` steps from scratch at `path`. */
static double time_run(const char *path, const char *steps)
{
    double start = now_seconds();
    char digest[64];
    run_to_end(path, steps, digest, sizeof digest);
    unlink(path);
    return now_seconds() - start;
}

START_TEST(killed_training_leaves_a_complete_checkpoint_and_resumes_bit_exactly)
{
    char dir[256], path[320], reference_path[320];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/run.safetensors", dir);
    snprintf(reference_path, sizeof reference_path, "%s/reference.safetensors", dir);
    /* Kill delays scaled to this machine (sanitizers and valgrind are slow):
     * half the start-up plus a random part of 1/100 of the run, so that the
     * kills land in start-up, steps and saves alike and a quarter of the
     * run or so is done after the last. */
    double startup = time_run(reference_path, "0");
    double run = time_run(reference_path, STEPS_TEXT) - startup;
    char reference[64], resumed[64];
    run_to_end(reference_path, STEPS_TEXT, reference, sizeof reference);
    unlink(reference_path);

    uint64_t last_step = 0;
    int killed = 0, advanced = 0, leftovers = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        int fd;
        pid_t pid = start(path, STEPS_TEXT, &fd);
        sleep_seconds(startup / 2 + run / (2 * TRIALS) * (double)((trial * 7919) % 101) / 100.0);
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        close(fd);
        killed += WIFSIGNALED(status);
        /* The checkpoint and at most one temporary: a writer killed between
         * naming its temporary and the rename leaves it, and the next save
         * removes it (the writer is dead), so they never pile up. */
        int entries = diffuse_test_count_entries(dir);
        ck_assert_int_le(entries, 2);
        leftovers += entries == 2;
        if (access(path, F_OK) != 0) {
            ck_assert_uint_eq(last_step, 0);
            continue;
        }
        uint64_t step = checkpoint_step(path);
        ck_assert_uint_ge(step, last_step);
        advanced += step > last_step;
        last_step = step;
    }
    ck_assert_msg(killed >= TRIALS * 9 / 10, "only %d of %d runs were killed mid-way", killed,
                  TRIALS);
    ck_assert_msg(last_step < STEPS && advanced >= TRIALS / 3,
                  "the kills did not interrupt a progressing run (last step %llu, %d advances)",
                  (unsigned long long)last_step, advanced);
    printf("crash: %d of %d runs killed (start-up %.0f ms, run %.0f ms), the checkpoint "
           "advanced %d times, to step %llu of %d, a temporary left %d times; resumed: %s",
           killed, TRIALS, 1e3 * startup, 1e3 * run, advanced, (unsigned long long)last_step,
           STEPS, leftovers, reference);
    run_to_end(path, STEPS_TEXT, resumed, sizeof resumed);
    ck_assert_str_eq(resumed, reference);
    ck_assert_int_eq(diffuse_test_count_entries(dir), 1); /* the run's saves removed any leftover */
    diffuse_test_remove_dir(dir);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *suite = suite_create("crash");
    TCase *tc = tcase_create("sigkill");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, killed_training_leaves_a_complete_checkpoint_and_resumes_bit_exactly);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(crash_suite());
}
