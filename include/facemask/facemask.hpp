// facemask/facemask.hpp — include this one header for the whole library.
#pragma once
#include "config.hpp"
#include "status.hpp"
#include "types.hpp"
#include "image.hpp"
#include "detector.hpp"
#include "classifier.hpp"
#include "pipeline.hpp"
#include "io.hpp"
#include "draw.hpp"
#include "tracker.hpp"
