/*
 * kmalloc_test - kmalloc flags, accounting, leak report and failure
 * injection (kern/kern_slaballoc.c semantics).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/malloc.h>

#include "h_common.h"

MALLOC_DEFINE(M_KMTEST, "kmtest", "kmalloc_test allocations");
MALLOC_DEFINE(M_KMOTHER, "kmother", "kmalloc_test other type");

ATF_TC(kmalloc__injection_only_when_allowed_to_fail);
ATF_TC_HEAD(kmalloc__injection_only_when_allowed_to_fail, tc)
{
	atf_tc_set_md_var(tc, "descr", "kmalloc: an injected failure hits "
	    "only allocations that may fail (M_NULLOK or M_NOWAIT); M_WAITOK "
	    "never returns NULL");
}
ATF_TC_BODY(kmalloc__injection_only_when_allowed_to_fail, tc)
{
	void *a, *b, *c, *d;
	long n0;

	h_boot(HK_PROFILE_MODERN);
	n0 = hk_kmalloc_failable_count();
	ATF_REQUIRE_EQ(hk_fail_kmalloc_nth(NULL, 1), 0);
	a = kmalloc(8, M_KMTEST, M_WAITOK);
	ATF_CHECK(a != NULL);
	ATF_CHECK_EQ(hk_kmalloc_failable_count(), n0);
	b = kmalloc(8, M_KMTEST, M_NOWAIT);
	ATF_CHECK(b == NULL);
	c = kmalloc(8, M_KMTEST, M_WAITOK | M_NULLOK);
	ATF_CHECK(c != NULL);
	ATF_REQUIRE_EQ(hk_fail_kmalloc_nth(NULL, 2), 0);
	d = kmalloc(8, M_KMTEST, M_WAITOK | M_NULLOK);
	ATF_CHECK(d != NULL);
	kfree(d, M_KMTEST);
	d = kmalloc(8, M_KMTEST, M_WAITOK | M_NULLOK);
	ATF_CHECK(d == NULL);
	ATF_CHECK_EQ(hk_kmalloc_failable_count(), n0 + 4);
	kfree(a, M_KMTEST);
	kfree(c, M_KMTEST);
	h_shutdown_clean();
}

ATF_TC(kmalloc__injection_by_type);
ATF_TC_HEAD(kmalloc__injection_by_type, tc)
{
	atf_tc_set_md_var(tc, "descr", "kmalloc failure injection can target "
	    "one malloc type by its short name");
}
ATF_TC_BODY(kmalloc__injection_by_type, tc)
{
	void *a, *b;

	h_boot(HK_PROFILE_MODERN);
	ATF_REQUIRE_EQ(hk_fail_kmalloc_nth("kmtest", 1), 0);
	a = kmalloc(8, M_KMOTHER, M_NOWAIT);
	ATF_CHECK(a != NULL);
	b = kmalloc(8, M_KMTEST, M_NOWAIT);
	ATF_CHECK(b == NULL);
	kfree(a, M_KMOTHER);
	h_shutdown_clean();
}

ATF_TC(kmalloc__fail_every_allocation_of_a_type);
ATF_TC_HEAD(kmalloc__fail_every_allocation_of_a_type, tc)
{
	atf_tc_set_md_var(tc, "descr", "kmalloc failure injection of every "
	    "failable allocation of one type until turned off");
}
ATF_TC_BODY(kmalloc__fail_every_allocation_of_a_type, tc)
{
	void *a, *b;
	int i;

	h_boot(HK_PROFILE_MODERN);
	ATF_REQUIRE_EQ(hk_fail_kmalloc_type("kmtest", 1), 0);
	for (i = 0; i < 3; i++)
		ATF_CHECK(kmalloc(8, M_KMTEST, M_NOWAIT) == NULL);
	a = kmalloc(8, M_KMTEST, M_WAITOK);
	ATF_CHECK(a != NULL);
	b = kmalloc(8, M_KMOTHER, M_NOWAIT);
	ATF_CHECK(b != NULL);
	ATF_REQUIRE_EQ(hk_fail_kmalloc_type("kmtest", 0), 0);
	kfree(a, M_KMTEST);
	a = kmalloc(8, M_KMTEST, M_NOWAIT);
	ATF_CHECK(a != NULL);
	kfree(a, M_KMTEST);
	kfree(b, M_KMOTHER);
	h_shutdown_clean();
}

ATF_TC(kmalloc__stats_zero_and_leak_report);
ATF_TC_HEAD(kmalloc__stats_zero_and_leak_report, tc)
{
	atf_tc_set_md_var(tc, "descr", "kmalloc per-type live bytes and "
	    "count, M_ZERO, and the leak report at shutdown");
}
ATF_TC_BODY(kmalloc__stats_zero_and_leak_report, tc)
{
	struct hk_leaks lk;
	size_t bytes, count, i;
	unsigned char *p;

	h_boot(HK_PROFILE_MODERN);
	p = kmalloc(100, M_KMTEST, M_WAITOK | M_ZERO);
	for (i = 0; i < 100; i++)
		ATF_REQUIRE_EQ(p[i], 0);
	ATF_REQUIRE_EQ(hk_kmalloc_stats("kmtest", &bytes, &count), 0);
	ATF_CHECK_EQ(bytes, 100);
	ATF_CHECK_EQ(count, 1);
	ATF_REQUIRE_EQ(hk_shutdown(&lk), 0);
	ATF_CHECK_EQ(lk.kmalloc_bytes, 100);
	ATF_CHECK_EQ(lk.kmalloc_count, 1);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, kmalloc__injection_only_when_allowed_to_fail);
	ATF_TP_ADD_TC(tp, kmalloc__injection_by_type);
	ATF_TP_ADD_TC(tp, kmalloc__fail_every_allocation_of_a_type);
	ATF_TP_ADD_TC(tp, kmalloc__stats_zero_and_leak_report);
	return (atf_no_error());
}
