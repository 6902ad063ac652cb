/* users.c - see users.h. */
#include "users.h"
#include "db.h"

json_t *user_to_json(const PGresult *r, int row, int col0, bool self)
{
    const char *email = db_get(r, row, col0 + USER_COL_EMAIL);
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s}", "id", db_get(r, row, col0 + USER_COL_ID),
                          "username", db_get(r, row, col0 + USER_COL_USERNAME), "display_name",
                          db_get(r, row, col0 + USER_COL_DISPLAY_NAME), "created_at",
                          db_get(r, row, col0 + USER_COL_CREATED_AT));
    if (o != NULL && self)
        json_object_set_new(o, "email", email ? json_string(email) : json_null());
    return o;
}
