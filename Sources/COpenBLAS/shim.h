// OpenBLAS's CBLAS interface plus its extensions (corename, thread count).
// The include path comes from pkg-config "openblas".
#include <cblas.h>
