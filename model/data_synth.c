/* model/data_synth: synthetic tasks generated from a seed, no files.
 *
 * synthetic:recall — associative recall whose difficulty is the distance
 * between a fact and the question about it. A sequence is a stream of events:
 *   definition  KEY VALUE        (prob. 0.05) binds KEY to VALUE
 *   query       QUERY KEY VALUE  (prob. 0.20) VALUE is the latest binding of KEY
 *   filler      NOISE            (otherwise)  uniform noise, unpredictable
 * Tokens: QUERY = 1, NOISE 32..95, KEY 96..159, VALUE 160..255 (0, the document
 * separator, never occurs), so a key preceded by QUERY is a question and any
 * other key a definition. Only the VALUE of a query is predictable, and only by
 * a model that can reach back to the definition. Each query draws a target
 * distance g log-uniformly in [1, min(position, max_gap)] and asks for the
 * binding whose definition lies closest to g tokens back (never beyond
 * max_gap), so every log2 distance bucket is about equally represented and the
 * loss at late positions measures how much context a model uses. New
 * definitions take an unbound key or else the least recently defined one; at
 * these rates a binding survives about 64 * 1.45 / 0.05 ~ 1850 tokens, so
 * distances up to ~2k are reachable. synthetic:recall:N sets max_gap = N.
 *
 * synthetic:markov — a language-like task: a sparse order-2 Markov chain over 64
 * symbols (tokens 32..95). The successors of a pair (a, b) are 8 symbols fixed
 * by a hash of a constant language seed (so every run, whatever its seed, sees
 * the same language), with Zipfian probabilities proportional to 1/(rank+1).
 * The entropy floor is about 1.8 nats per token against ln 64 = 4.16 for a
 * unigram model. */
#include <math.h>
#include <string.h>

#include "model/data_internal.h"

uint64_t model_data_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t model_data_rng_next(data_rng *r) {
    r->state += 0x9e3779b97f4a7c15ull;
    return model_data_mix64(r->state);
}

uint64_t model_data_rng_below(data_rng *r, uint64_t n) {
    /* Rejection keeps the draw exactly uniform. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = model_data_rng_next(r);
    while (x >= limit);
    return x % n;
}

double model_data_rng_uniform(data_rng *r) { return (double)(model_data_rng_next(r) >> 11) * 0x1.0p-53; }

data_rng model_data_rng_for(uint64_t seed, int split, int64_t batch_index, int row) {
    uint64_t h = model_data_mix64(seed ^ 0x5ca1ab1e00000000ull);
    h = model_data_mix64(h ^ (uint64_t)split);
    h = model_data_mix64(h ^ (uint64_t)batch_index);
    h = model_data_mix64(h ^ (uint64_t)(uint32_t)row);
    return (data_rng){h};
}

int model_data_task_min_vocab(data_task task) {
    return task == DATA_TASK_RECALL ? RECALL_VALUE_FIRST + RECALL_VALUE_COUNT : 96;
}

void model_data_recall_sequence(data_rng *r, int max_gap, int32_t *tokens, int n) {
    int def_pos[RECALL_KEY_COUNT], value[RECALL_KEY_COUNT];
    for (int k = 0; k < RECALL_KEY_COUNT; k++) def_pos[k] = -1;
    int pos = 0;
    while (pos < n) {
        double u = model_data_rng_uniform(r);
        int event[3], len = 0;
        if (u < 0.05) {
            int key = -1, oldest = -1;
            int start = (int)model_data_rng_below(r, RECALL_KEY_COUNT);
            for (int i = 0; i < RECALL_KEY_COUNT && key < 0; i++) {
                int k = (start + i) % RECALL_KEY_COUNT;
                if (def_pos[k] < 0) key = k;
                else if (oldest < 0 || def_pos[k] < def_pos[oldest]) oldest = k;
            }
            if (key < 0) key = oldest;
            def_pos[key] = pos;
            value[key] = (int)model_data_rng_below(r, RECALL_VALUE_COUNT);
            event[len++] = RECALL_KEY_FIRST + key;
            event[len++] = RECALL_VALUE_FIRST + value[key];
        } else if (u < 0.25 && pos > 0) {
            int reach = pos < max_gap ? pos : max_gap;
            double target = pos - exp(model_data_rng_uniform(r) * log((double)reach + 1));
            int best = -1;
            for (int k = 0; k < RECALL_KEY_COUNT; k++) {
                if (def_pos[k] < 0 || pos - def_pos[k] > max_gap) continue;
                if (best < 0 || fabs(def_pos[k] - target) < fabs(def_pos[best] - target)) best = k;
            }
            if (best >= 0) {
                event[len++] = RECALL_QUERY;
                event[len++] = RECALL_KEY_FIRST + best;
                event[len++] = RECALL_VALUE_FIRST + value[best];
            }
        }
        if (!len) event[len++] = RECALL_FILLER_FIRST + (int)model_data_rng_below(r, RECALL_FILLER_COUNT);
        for (int i = 0; i < len && pos < n; i++) tokens[pos++] = event[i];
    }
}

enum { MARKOV_SYMBOLS = 64, MARKOV_FIRST = 32, MARKOV_BRANCH = 8 };
#define MARKOV_LANGUAGE 0x6d61726b6f76ull

void model_data_markov_sequence(data_rng *r, int32_t *tokens, int n) {
    /* Zipf weights 1/(j+1), cumulative, for j < MARKOV_BRANCH. */
    double cum[MARKOV_BRANCH], total = 0;
    for (int j = 0; j < MARKOV_BRANCH; j++) cum[j] = total += 1.0 / (j + 1);
    int a = (int)model_data_rng_below(r, MARKOV_SYMBOLS), b = (int)model_data_rng_below(r, MARKOV_SYMBOLS);
    for (int pos = 0; pos < n; pos++) {
        double u = model_data_rng_uniform(r) * total;
        int j = 0;
        while (j < MARKOV_BRANCH - 1 && u >= cum[j]) j++;
        uint64_t h = model_data_mix64(MARKOV_LANGUAGE ^ ((uint64_t)a << 16) ^ ((uint64_t)b << 8) ^ (uint64_t)j);
        int next = (int)(h % MARKOV_SYMBOLS);
        tokens[pos] = MARKOV_FIRST + next;
        a = b;
        b = next;
    }
}
