/* Data-parallel training over MPI from the command line: each rank trains
 * on its own shard of a synthetic stream, rank 0 reports steps/s and saves
 * the trainer. The scaling table in docs/performance.md comes from it.
 *   mpirun -np N build/mpi/diffuse_mpi_train [mlp|unet] [rows per rank] [steps] [out|-]
 *                                            [bucket bytes]
 * (bucket bytes: diffuse_mpi_set_bucket_size, 0 for no overlap; default
 * DIFFUSE_MPI_DEFAULT_BUCKET_BYTES). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <diffuse/checkpoint.h>
#include <diffuse/diffuse.h>
#include <diffuse/mpi.h>

/* The data callback's state: the shard comes from diffuse_mpi_shard. */
typedef struct shard {
    diffuse_mpi *mpi;
    uint64_t step;
} shard;

/* Row j of step k over all ranks, element i: a hash on [−1, 1). */
static float element(uint64_t k, uint64_t j, uint64_t i)
{
    uint64_t z = (k << 40 | j << 20 | i) + 0x9e3779b97f4a7c15u; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (float)((double)((z ^ (z >> 31)) >> 40) / 8388608.0 - 1.0);
}

static int shard_rows(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                      char *message, size_t message_size)
{
    (void)labels;
    (void)message;
    (void)message_size;
    shard *s = user;
    int rank, size;
    diffuse_mpi_shard(s->mpi, &rank, &size);
    s->step++;
    uint64_t first = (uint64_t)rank * capacity; /* rank r's rows of the global batch */
    for (size_t j = 0; j < capacity; j++)
        for (size_t i = 0; i < dim; i++)
            x[j * dim + i] = element(s->step, first + j, i);
    return (int)capacity;
}

/* The MLP of the toy2d demo widened to 784 inputs, or a Fashion-MNIST U-Net. */
static diffuse_status make_model(diffuse_model **out, int unet)
{
    diffuse_model_config *c;
    diffuse_status status = diffuse_model_config_create(&c, unet ? DIFFUSE_ARCH_UNET : DIFFUSE_ARCH_MLP, 784);
    if (status != DIFFUSE_OK)
        return status;
    if (unet) {
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_IMAGE_CHANNELS, 1);
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_IMAGE_HEIGHT, 28);
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_IMAGE_WIDTH, 28);
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_BASE_CHANNELS, 32);
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_LEVELS, 2);
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_ATTENTION_LEVELS, 0);
    } else {
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_HIDDEN_WIDTH, 512);
        diffuse_model_config_set_int(c, DIFFUSE_MODEL_HIDDEN_LAYERS, 3);
    }
    status = diffuse_model_create(out, c);
    diffuse_model_config_free(c);
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int unet = argc > 1 && strcmp(argv[1], "unet") == 0;
    int rows = argc > 2 ? atoi(argv[2]) : 64, steps = argc > 3 ? atoi(argv[3]) : 20;
    const char *out = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    size_t bucket = argc > 5 ? strtoull(argv[5], NULL, 10) : DIFFUSE_MPI_DEFAULT_BUCKET_BYTES;
    diffuse_model *model = NULL;
    diffuse_schedule *schedule = NULL;
    diffuse_optimizer *optimizer = NULL;
    diffuse_trainer *trainer = NULL;
    diffuse_mpi *mpi = NULL;
    shard data = {NULL, 0};
    diffuse_status status;
    if ((status = make_model(&model, unet)) ||
        (status = diffuse_schedule_create(&schedule, DIFFUSE_SCHEDULE_LINEAR, 1000)) ||
        (status = diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAMW, model)) ||
        (status = diffuse_trainer_create(&trainer, model, schedule, optimizer)) ||
        (status = diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_BATCH_SIZE, rows)) ||
        (status = diffuse_trainer_set_data(trainer, shard_rows, &data)) ||
        (status = diffuse_mpi_attach(&mpi, trainer, model, MPI_COMM_WORLD)) ||
        (status = diffuse_mpi_set_bucket_size(mpi, bucket))) {
        fprintf(stderr, "set-up failed: %s\n", mpi ? diffuse_mpi_last_error(mpi) : diffuse_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    data.mpi = mpi;
    int rank, size;
    diffuse_mpi_shard(mpi, &rank, &size);
    diffuse_trainer_step(trainer, NULL); /* warm-up: buffers, threads */
    MPI_Barrier(MPI_COMM_WORLD);
    double started = MPI_Wtime(), loss = 0.0;
    status = diffuse_trainer_train(trainer, (uint64_t)steps, &loss);
    double seconds = MPI_Wtime() - started;
    if (status == DIFFUSE_OK)
        status = diffuse_mpi_check_state(mpi);
    if (status == DIFFUSE_OK && out != NULL)
        status = diffuse_mpi_save(mpi, out);
    size_t params = 0;
    diffuse_model_param_count(model, &params);
    if (rank == 0 && status == DIFFUSE_OK)
        printf("%s, %zu parameters, %d ranks × %d rows, buckets of %zu bytes: %.3f steps/s, "
               "%.1f rows/s, loss %.4f\n",
               unet ? "unet" : "mlp", params, size, rows, bucket, steps / seconds,
               steps * (double)rows * size / seconds, loss);
    if (status != DIFFUSE_OK)
        fprintf(stderr, "rank %d: %s\n", rank, diffuse_trainer_last_error(trainer));
    diffuse_mpi_free(mpi);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_schedule_free(schedule);
    diffuse_model_free(model);
    MPI_Finalize();
    return status == DIFFUSE_OK ? 0 : 1;
}
