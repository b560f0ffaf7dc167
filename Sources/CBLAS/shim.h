#include <cblas.h>
/* OpenBLAS extensions (declared in its cblas.h as well; repeated for clarity of what we rely on). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
