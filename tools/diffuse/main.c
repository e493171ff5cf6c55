/* diffuse: the command-line tool of libdiffuse. It uses only the public
 * API (include/diffuse), like any program outside the library.
 *
 *     diffuse train --csv data.csv --steps 2000 --save model.safetensors
 *     diffuse sample --load model.safetensors --n 1000 --out samples.npy
 *     diffuse info model.safetensors
 */
#include <diffuse/diffuse.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct subcommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} subcommand;

/* A new subcommand is one line here and one file (an `nll` one, with the
 * likelihood, once the library computes it). */
static const subcommand subcommands[] = {
    {"train", "train a model on CSV, NPY, IDX or built-in 2-D data", cli_train},
    {"sample", "draw samples from a saved model (CSV, NPY, PNG grid)", cli_sample},
    {"info", "show a checkpoint's configuration (text or --json)", cli_info},
    {"nll", "a model's negative log-likelihood bound in bits/dim on data", cli_nll},
};
#define SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *stream)
{
    fprintf(stream, "usage: diffuse COMMAND [options]   (diffuse COMMAND --help for its "
                    "options)\n\nCommands:\n");
    for (size_t i = 0; i < SUBCOMMANDS; i++)
        fprintf(stream, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(stream, "\nOther options:\n  --help     show this help\n"
                    "  --version  show the version of the tool and of the library\n"
                    "\nSee diffuse(1) for every flag and the data formats.\n");
}

/* The library never prints: its warnings (a model too narrow for the data)
 * come here. */
static void print_warning(void *user, diffuse_log_level level, const char *message)
{
    (void)user, (void)level;
    fprintf(stderr, "diffuse: warning: %s\n", message);
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : NULL;
    if (name == NULL) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("diffuse %s (libdiffuse %s)\n", DIFFUSE_VERSION_STRING, diffuse_version_string());
        return CLI_OK;
    }
    diffuse_set_log(print_warning, NULL);
    for (size_t i = 0; i < SUBCOMMANDS; i++)
        if (strcmp(name, subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "diffuse: unknown command \"%s\"\n", name);
    usage(stderr);
    return CLI_USAGE;
}
