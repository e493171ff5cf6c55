/* The time branch, run once per distinct timestep (see time_mlp.h). */
#include "nn/time_mlp.h"

#include <string.h>

#include "nn/activation.h"
#include "nn/block.h"
#include "nn/linear.h"
#include "nn/vec.h"

/* Smallest b ≥ 1 with 2^b ≥ 2n: the set stays at most half full. */
static size_t hash_bits_for(size_t n)
{
    size_t bits = 1;
    while (((size_t)1 << bits) < 2 * n)
        bits++;
    return bits;
}

void nn_time_pass_carve(nn_carver *carver, nn_time_pass *pass, const nn_time_shape *shape,
                        size_t n)
{
    pass->hash_bits = hash_bits_for(n);
    pass->slot = nn_carve_ints(carver, n);
    pass->unique_t = nn_carve_ints(carver, n);
    pass->hash = nn_carve_ints(carver, (size_t)1 << pass->hash_bits);
    pass->emb = nn_carve_floats(carver, n * shape->embed_dim);
    pass->pre = nn_carve_floats(carver, n * shape->width);
}

/* Fibonacci hashing: the top hash_bits bits of t·⌊2^32/φ⌋. */
static size_t hash_index(int32_t t, size_t bits)
{
    return (size_t)(((uint32_t)t * UINT32_C(2654435769)) >> (32 - bits));
}

/* unique_t = distinct values of t in order of first appearance; slot[i]
 * = position of t[i] in unique_t. Linear probing in a set that is at most
 * half full. */
static void find_unique(nn_time_pass *pass, const int32_t *t, size_t n)
{
    size_t mask = ((size_t)1 << pass->hash_bits) - 1;
    memset(pass->hash, 0xff, (mask + 1) * sizeof *pass->hash); /* all −1: empty */
    size_t unique = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = hash_index(t[i], pass->hash_bits);
        while (pass->hash[h] >= 0 && pass->unique_t[pass->hash[h]] != t[i])
            h = (h + 1) & mask;
        if (pass->hash[h] < 0) {
            pass->hash[h] = (int32_t)unique;
            pass->unique_t[unique++] = t[i];
        }
        pass->slot[i] = pass->hash[h];
    }
    pass->rows = n;
    pass->unique = unique;
}

/* rows[i] = rows[slot[i]] + bias for i = n−1 … 0, where the first U rows
 * hold the features of the distinct timesteps. slot[i] ≤ i (distinct values
 * are numbered in order of first appearance), so going down from the last
 * row every row is read before it is overwritten. */
static void spread_in_place(const nn_time_pass *pass, float *rows, const float *bias,
                            size_t width)
{
    for (size_t i = pass->rows; i-- > 0;) {
        size_t slot = (size_t)pass->slot[i];
        if (slot == i)
            nn_vec_add(rows + i * width, bias, width);
        else
            nn_vec_sum(rows + i * width, rows + slot * width, bias, width);
    }
}

diffuse_status nn_time_mlp_forward(diffuse_error *error, const nn_time_shape *shape,
                                   nn_time_table *table, nn_time_pass *pass,
                                   const nn_time_weights *weights, const int32_t *t, size_t n,
                                   float *scratch, const float *bias, float *rows)
{
    find_unique(pass, t, n);
    size_t unique = pass->unique, embed = shape->embed_dim, width = shape->width;
    diffuse_status status = nn_time_table_lookup(error, table, pass->unique_t, unique,
                                                 pass->emb);
    if (status != DIFFUSE_OK)
        return status;
    /* pre = W1 emb + b1;  features = W2 φ(pre) + b2, into the first U rows */
    nn_linear_forward(pass->pre, pass->emb, weights->w1, weights->b1, unique, embed, width,
                      false);
    nn_block_forward(rows, scratch, NULL, pass->pre, weights->w2, weights->b2, unique, width,
                     width, shape->activation, false);
    spread_in_place(pass, rows, bias, width);
    return DIFFUSE_OK;
}

/* Accumulates (weight, bias) of one group: dW += d_outᵀ·in, db += Σ d_out. */
static void add_group(const nn_time_grads *grads, size_t offset, size_t bias_offset,
                      const float *d_out, const float *in, size_t rows, size_t in_dim,
                      size_t out_dim)
{
    float *weight = grads->open(grads->context, offset, bias_offset + out_dim);
    nn_linear_backward_params(weight, weight + bias_offset, d_out, in, rows, in_dim, out_dim);
    grads->close(grads->context);
}

void nn_time_mlp_backward(const nn_time_shape *shape, nn_time_pass *pass,
                          const nn_time_weights *weights, const nn_time_grads *grads,
                          float *d_rows, float *scratch)
{
    size_t unique = pass->unique, width = shape->width, embed = shape->embed_dim;
    /* dL/dfeatures(t_u) = Σ over the rows i with t_i = t_u of d_rows[i] */
    float *grad_features = scratch;
    memset(grad_features, 0, unique * width * sizeof *grad_features);
    for (size_t i = 0; i < pass->rows; i++)
        nn_vec_add(grad_features + (size_t)pass->slot[i] * width, d_rows + i * width, width);
    /* features = W2 φ(pre) + b2: φ(pre) into the rows' gradient (summed
     * now), φ'(pre) over pre; dL/dpre then overwrites φ(pre). */
    float *act = d_rows, *derivative = pass->pre;
    nn_activation_recompute(shape->activation, act, pass->pre, unique * width);
    add_group(grads, grads->w2, width * width, grad_features, act, unique, width, width);
    nn_block_backward_input(act, grad_features, derivative, weights->w2, unique, width, width,
                            false);
    /* pre = W1 emb + b1 */
    add_group(grads, grads->w1, width * embed, act, pass->emb, unique, embed, width);
}
