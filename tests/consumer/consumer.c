/* A program outside the library's tree, built against the INSTALLED
 * libdiffuse: proves the headers, pkg-config file and CMake package work. */
#include <diffuse/diffuse.h>
#include <stdio.h>

/* Names the library uses internally (an error helper, a kernel): a program
 * linking libdiffuse.a must be free to define its own. */
int diffuse_fail(void);
int forward_q_sample(void);
int diffuse_fail(void) { return 0; }
int forward_q_sample(void) { return 0; }

int main(void)
{
    if (diffuse_fail() != 0 || forward_q_sample() != 0)
        return 1;
    if (diffuse_version_number() != DIFFUSE_VERSION_NUMBER) {
        fprintf(stderr, "header %d vs library %u\n", DIFFUSE_VERSION_NUMBER,
                diffuse_version_number());
        return 1;
    }
    diffuse_schedule *schedule = NULL;
    if (diffuse_schedule_create(&schedule, DIFFUSE_SCHEDULE_LINEAR, 1000) != DIFFUSE_OK) {
        fprintf(stderr, "schedule: %s\n", diffuse_last_error());
        return 1;
    }
    double alpha_bar = 0.0;
    diffuse_status status =
        diffuse_schedule_value(schedule, DIFFUSE_TABLE_ALPHA_BAR, 999, &alpha_bar);
    diffuse_schedule_free(schedule);
    if (status != DIFFUSE_OK)
        return 1;
    printf("libdiffuse %s: alpha_bar[999] = %.6e\n", diffuse_version_string(), alpha_bar);
    return 0;
}
