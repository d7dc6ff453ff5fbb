/* model: the retention LM family of DESIGN.md section 3: config, FLOP accounting,
 * data, the network (forward/backward through kernels/), and the trainer.
 * This is the module's one public header. */
#ifndef SCALELAB_MODEL_H
#define SCALELAB_MODEL_H

#include "model/config.h"
#include "model/data.h"
#include "model/flops.h"
#include "model/net.h"
#include "model/train.h"

#endif
