/*
 * A libsubid NSS module for the tests (shadow's lib/nss.c loads libsubid_<name>.so for
 * `subid: <name>` in /etc/nsswitch.conf): it gives one login, OWNER, one uid and one gid range,
 * START and COUNT, and nobody else anything. The ABI is shadow's struct subid_nss_ops, 4.13
 * (Debian 12) to 4.17 (Debian 13, which also wants shadow_subid_free). Built by the test with
 * gcc -shared -fPIC -DOWNER='"name"' -DSTART=N -DCOUNT=N.
 */
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct subid_range {
	unsigned long start;
	unsigned long count;
};

enum subid_type { ID_TYPE_UID = 1, ID_TYPE_GID = 2 };

enum subid_status {
	SUBID_STATUS_SUCCESS = 0,
	SUBID_STATUS_UNKNOWN_USER = 1,
	SUBID_STATUS_ERROR_CONN = 2,
	SUBID_STATUS_ERROR = 3,
};

enum subid_status shadow_subid_has_range(const char *owner, unsigned long start,
					 unsigned long count, enum subid_type t, bool *result)
{
	(void)t;
	*result = strcmp(owner, OWNER) == 0 && start >= START && count <= COUNT &&
		  start + count <= START + COUNT;
	return SUBID_STATUS_SUCCESS;
}

enum subid_status shadow_subid_list_owner_ranges(const char *owner, enum subid_type t,
						 struct subid_range **ranges, int *count)
{
	(void)t;
	*ranges = NULL;
	*count = 0;
	if (strcmp(owner, OWNER) != 0)
		return SUBID_STATUS_SUCCESS;
	*ranges = malloc(sizeof(struct subid_range));
	if (!*ranges)
		return SUBID_STATUS_ERROR;
	(*ranges)[0].start = START;
	(*ranges)[0].count = COUNT;
	*count = 1;
	return SUBID_STATUS_SUCCESS;
}

enum subid_status shadow_subid_find_subid_owners(unsigned long id, enum subid_type t,
						 uid_t **uids, int *count)
{
	struct passwd *pw;

	(void)t;
	*uids = NULL;
	*count = 0;
	if (id < START || id >= START + COUNT)
		return SUBID_STATUS_SUCCESS;
	pw = getpwnam(OWNER);
	if (!pw)
		return SUBID_STATUS_UNKNOWN_USER;
	*uids = malloc(sizeof(uid_t));
	if (!*uids)
		return SUBID_STATUS_ERROR;
	(*uids)[0] = pw->pw_uid;
	*count = 1;
	return SUBID_STATUS_SUCCESS;
}

void shadow_subid_free(void *ptr)
{
	free(ptr);
}
