// libpq, PostgreSQL's own client (Debian: libpq-dev). Swift calls it directly: nothing here but
// the header.
#include <libpq-fe.h>
