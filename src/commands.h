/* Subcommands of the stylegan2-cl program. Each takes argv[0] = its name and
 * returns the process exit status; errors go to stderr as one line. */
#ifndef SG2_COMMANDS_H
#define SG2_COMMANDS_H

/* Set by the global --device option (NULL: default selection). */
extern const char *sg2_cli_device;

int sg2_cmd_generate(int argc, char **argv);
int sg2_cmd_style_mix(int argc, char **argv);
int sg2_cmd_interpolate(int argc, char **argv);
int sg2_cmd_convert(int argc, char **argv);
int sg2_cmd_train(int argc, char **argv);
int sg2_cmd_dataset(int argc, char **argv);
int sg2_cmd_tune(int argc, char **argv);
int sg2_cmd_bench(int argc, char **argv);

#endif
