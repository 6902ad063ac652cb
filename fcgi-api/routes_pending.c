/* Temporary: endpoints not written yet answer 501. Removed when done. */
#include "routes.h"
#define PENDING(fn) void fn(struct http_req *req) { http_error(req, 501, "not_implemented", "not implemented yet"); }
PENDING(route_openapi)
PENDING(route_docs)
PENDING(route_docs_asset)
