/* The Fashion-MNIST example's training run (examples/fashion): the handles,
 * building them fresh or resuming from a trainer checkpoint, training in
 * segments between checkpoints and sample grids, and sampling. Only the
 * public API of libdiffuse. */
#ifndef EXAMPLES_FASHION_RUN_H
#define EXAMPLES_FASHION_RUN_H

#include <diffuse/diffuse.h>
#include <stdint.h>

typedef struct fashion_config {
    const char *data_dir;      /* holds train-images-idx3-ubyte.gz … */
    uint64_t steps;            /* total training steps (a resumed run stops there too) */
    uint64_t stop_at;          /* stop (checkpoint saved) after this step, 0: at `steps` */
    uint64_t seed;
    int threads;               /* trainer and sampler threads */
    int64_t batch_size;
    int64_t base_channels, levels, res_blocks, attention_levels, heads, groups;
    double learning_rate, ema_decay, dropout;
    uint64_t warmup_steps;
    uint64_t log_every, checkpoint_every, grid_every; /* 0: never (grid/checkpoint: at the end) */
    const char *checkpoint;    /* trainer checkpoint written every checkpoint_every and at the end */
    const char *resume;        /* trainer checkpoint to resume from, or NULL */
    const char *grid;          /* PNG of grid_columns² samples */
    int64_t grid_columns;
    diffuse_sample_method sampler;
    int64_t sample_steps;
    double clip;               /* x̂_0 clipped to [−clip, clip] while sampling; 0: off */
    uint64_t samples;          /* extra samples written to samples_out (.npy), 0: none */
    const char *samples_out;
    const char *labels_out;    /* with classes: the class each of those samples was asked for */
    int64_t classes;           /* 0: unconditional; K: class-conditional on the K labels */
    double label_dropout;      /* with classes: the null class's share of training rows */
    double guidance;           /* with classes: classifier-free guidance scale w (1: plain) */
} fashion_config;

typedef struct fashion_run {
    const fashion_config *config;
    diffuse_images *images;
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    size_t channels, height, width;
    int64_t classes; /* the model's (a resumed checkpoint's), 0: unconditional */
} fashion_run;

/* Loads the data and builds (or, with config->resume, loads) the handles;
 * the data source is positioned where the resumed step left it. Returns 0,
 * or −1 after printing a message (run is then freed). */
int fashion_open(const fashion_config *config, fashion_run *run);

/* Trains up to config->steps (or stop_at), writing checkpoints and grids on the way and
 * at the end. Returns 0 or −1 (message printed). */
int fashion_train(fashion_run *run);

/* n samples (n·C·H·W floats, x̂_0 clipped as configured) from the EMA
 * weights with the configured sampler; with `labels` (n classes) guided
 * towards them at the configured scale, else unconditional. Returns 0 or −1. */
int fashion_sample(fashion_run *run, size_t n, uint64_t seed, const int32_t *labels, float *out);

/* Writes config->samples samples to config->samples_out as a float32 .npy
 * of shape (n, C, H, W), the input of bench/fashion_quality.py; a
 * class-conditional model's sample i is of class i mod K, those classes
 * written to config->labels_out as an int32 .npy of shape (n,). */
int fashion_write_samples(fashion_run *run);

void fashion_close(fashion_run *run);

#endif
