/* Runs a libFuzzer harness's LLVMFuzzerTestOneInput over files and
 * directories of files, without libFuzzer: any compiler builds it, so every
 * build replays the committed corpora (ctest: fuzz_replay_*). A harness's
 * failure traps; the exit status is 0 when every input passed.
 *
 *     fuzz_checkpoint_replay tests/fuzz/corpus/checkpoint [file ...] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t capacity = 4096, size = 0;
    uint8_t *data = malloc(capacity);
    for (size_t got; data != NULL && (got = fread(data + size, 1, capacity - size, f)) > 0;) {
        size += got;
        if (size == capacity) {
            uint8_t *grown = realloc(data, capacity *= 2);
            if (grown == NULL)
                free(data);
            data = grown;
        }
    }
    fclose(f);
    if (data == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* Every regular file directly in `path`, or `path` itself. */
static int replay(const char *path, size_t *count)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(info.st_mode)) {
        ++*count;
        return replay_file(path);
    }
    DIR *dir = opendir(path);
    if (dir == NULL) {
        perror(path);
        return 1;
    }
    int failed = 0;
    char file[4096];
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.' && stat(file, &info) == 0 && S_ISREG(info.st_mode)) {
            ++*count;
            failed |= replay_file(file);
        }
    }
    closedir(dir);
    return failed;
}

int main(int argc, char **argv)
{
    int failed = 0;
    size_t count = 0;
    for (int i = 1; i < argc; i++)
        failed |= replay(argv[i], &count);
    printf("%zu inputs replayed%s\n", count, failed ? ", some could not be read" : "");
    return failed || count == 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
