#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>

int diffuse_test_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int diffuse_test_temp_dir(char *buffer, size_t size)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int written = snprintf(buffer, size, "%s/diffuse-test-XXXXXX", base);
    if (written < 0 || (size_t)written >= size)
        return -1;
    return mkdtemp(buffer) != NULL ? 0 : -1;
}
