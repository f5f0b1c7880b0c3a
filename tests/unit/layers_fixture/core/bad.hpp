#pragma once
// A fixture for the layers_refuse_upward_include test: core/ must not
// include actors/.
#include "actors/actors.hpp"
