/* libFuzzer target: sweep specs (sweep_spec_parse), then, when a spec parses,
 * its expansion (sweep_expand: expressions, derived values, constraints). A base
 * given as a path reads whatever file it names; the corpus keeps to inline bases. */
#include <stdint.h>
#include <stdlib.h>

#include "sweep/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sweep_spec s;
    char err[1024];
    if (sweep_spec_parse("fuzz.yaml", (const char *)data, size, &s, err, sizeof err)) return 0;
    double points = 1;
    for (size_t i = 0; i < s.n_grid; i++) points *= (double)s.grid[i].n;
    for (size_t i = 0; i < s.n_zips; i++) points *= (double)s.zips[i].len;
    if (s.random_n) points *= (double)s.random_n;
    if (s.n_seeds) points *= (double)s.n_seeds;
    if (points <= 2000) { /* bigger ones are legal but slow, and exercise nothing new */
        sweep_points p;
        if (!sweep_expand(&s, NULL, 0, &p, err, sizeof err)) sweep_points_free(&p);
    }
    sweep_spec_free(&s);
    return 0;
}
