/* Reproducibility whatever OpenBLAS does: the same prediction, training and
 * sampling give the same bits under OpenBLAS on one thread or two, and under
 * a one-core CPU affinity (from which OpenBLAS picks its default thread
 * count), because the library runs its matrix products with OpenBLAS pinned
 * to one thread (src/util/blas_threads.h). OpenBLAS reads its settings when
 * a process starts, so each variant runs repro_digest in a fresh process;
 * the digests it prints must agree, and every call must have put back the
 * caller's OpenBLAS thread count. */
#define _GNU_SOURCE
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.h"

typedef struct variant {
    const char *name;
    const char *blas_threads; /* OPENBLAS_NUM_THREADS; NULL: unset */
    int one_core;             /* run on the first CPU of the affinity mask */
} variant;

static const variant variants[] = {
    {"OPENBLAS_NUM_THREADS=1", "1", 0},
    {"OPENBLAS_NUM_THREADS=2", "2", 0},
    {"one-core affinity", NULL, 1},
    {"one-core affinity, OPENBLAS_NUM_THREADS=2", "2", 1},
};

static void pin_to_one_core(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        _exit(126);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            break;
        }
    }
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        _exit(126);
}

/* repro_digest's output under `v` (malloc'd), after checking its exit. */
static char *run_variant(const variant *v)
{
    int pipe_fds[2];
    ck_assert_int_eq(pipe(pipe_fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (v->blas_threads != NULL)
            setenv("OPENBLAS_NUM_THREADS", v->blas_threads, 1);
        else
            unsetenv("OPENBLAS_NUM_THREADS");
        if (v->one_core)
            pin_to_one_core();
        dup2(pipe_fds[1], STDOUT_FILENO);
        close(pipe_fds[0]);
        execl(DIFFUSE_REPRO_DIGEST, DIFFUSE_REPRO_DIGEST, (char *)NULL);
        _exit(127);
    }
    close(pipe_fds[1]);
    size_t size = 0, capacity = 4096;
    char *text = malloc(capacity);
    ck_assert_ptr_nonnull(text);
    ssize_t got;
    while ((got = read(pipe_fds[0], text + size, capacity - 1 - size)) > 0)
        size += (size_t)got;
    text[size] = '\0';
    close(pipe_fds[0]);
    int wstatus;
    ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
    ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
                  "repro_digest failed under %s (status %d)", v->name, wstatus);
    return text;
}

START_TEST(results_do_not_depend_on_openblas_threading)
{
    char *reference = run_variant(&variants[0]);
    ck_assert_msg(strstr(reference, "sample_threads2 0x") != NULL, "incomplete output:\n%s",
                  reference);
    ck_assert_msg(strstr(reference, "restored 0") == NULL,
                  "a call left OpenBLAS's thread count changed:\n%s", reference);
    for (size_t i = 1; i < sizeof variants / sizeof variants[0]; i++) {
        char *text = run_variant(&variants[i]);
        ck_assert_msg(strcmp(text, reference) == 0, "under %s:\n%s\nunder %s:\n%s",
                      variants[i].name, text, variants[0].name, reference);
        free(text);
    }
    free(reference);
}
END_TEST

static Suite *reproducibility_suite(void)
{
    Suite *suite = suite_create("reproducibility");
    TCase *tc = tcase_create("openblas");
    tcase_add_test(tc, results_do_not_depend_on_openblas_threading);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(reproducibility_suite());
}
