/* The subcommands of the `diffuse` tool (tools/diffuse, not part of
 * libdiffuse). Each takes its own argv (argv[0] is its name) and returns
 * the process's exit status: 0 done, 1 failed, 2 bad usage, 130
 * interrupted (Ctrl-C; what was done is saved first). */
#ifndef DIFFUSE_CLI_H
#define DIFFUSE_CLI_H

#define CLI_OK 0
#define CLI_FAILED 1
#define CLI_USAGE 2
#define CLI_INTERRUPTED 130

int cli_train(int argc, char **argv);
int cli_sample(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_nll(int argc, char **argv);

#endif
