/* users.c - see users.h. */
#include "users.h"
#include "db.h"

json_t *user_to_json(const PGresult *r, int row, int col0, bool self)
{
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s}", "id", db_get(r, row, col0), "username",
                          db_get(r, row, col0 + 1), "display_name", db_get(r, row, col0 + 3),
                          "created_at", db_get(r, row, col0 + 4));
    if (o != NULL && self)
        json_object_set_new(o, "email",
                            db_get(r, row, col0 + 2) ? json_string(db_get(r, row, col0 + 2))
                                                     : json_null());
    return o;
}
