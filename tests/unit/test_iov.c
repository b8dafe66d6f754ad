// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "iov.h"

static void test_total(void **state)
{
	uint8_t a[8], b[4];
	struct iovec iov[3] = { { a, 8 }, { b, 0 }, { b, 4 } };

	assert_int_equal(iov_total(iov, 3), 12);
	assert_int_equal(iov_total(iov, 2), 8);
	assert_int_equal(iov_total(iov, 0), 0);
}

static void test_advance(void **state)
{
	uint8_t a[16], b[8], c[4];
	struct iovec base[5] = { { a, 0 }, { a, 16 }, { b, 0 }, { b, 8 }, { c, 4 } };
	struct iovec iov[5], *p;
	unsigned int nr;

	/* By nothing: leading empty entries go. */
	memcpy(iov, base, sizeof(iov));
	p = iov;
	nr = 5;
	iov_advance(&p, &nr, 0);
	assert_ptr_equal(p, &iov[1]);
	assert_int_equal(nr, 4);

	/* Into the middle of an entry: it is cut in place. */
	iov_advance(&p, &nr, 10);
	assert_ptr_equal(p, &iov[1]);
	assert_ptr_equal(p->iov_base, a + 10);
	assert_int_equal(p->iov_len, 6);

	/* To an entry boundary: the empty entry after it goes too. */
	iov_advance(&p, &nr, 6);
	assert_ptr_equal(p, &iov[3]);
	assert_int_equal(nr, 2);
	assert_ptr_equal(p->iov_base, b);

	/* Past the end: stops empty, never beyond the array. */
	iov_advance(&p, &nr, 100);
	assert_int_equal(nr, 0);
	assert_ptr_equal(p, &iov[5]);
	iov_advance(&p, &nr, 1);
	assert_int_equal(nr, 0);
}

static void test_copies(void **state)
{
	uint8_t a[3] = { 0 }, b[5] = { 0 }, out[8];
	struct iovec iov[3] = { { a, 3 }, { out, 0 }, { b, 5 } };
	const uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	assert_int_equal(iov_from_buf(iov, 3, 1, src, 8), 7);
	assert_int_equal(a[0], 0);
	assert_int_equal(a[1], 1);
	assert_int_equal(b[0], 3);
	assert_int_equal(b[4], 7);
	memset(out, 0, sizeof(out));
	assert_int_equal(iov_to_buf(iov, 3, 2, out, 8), 6);
	assert_int_equal(out[0], 2);
	assert_int_equal(out[5], 7);
	assert_int_equal(iov_to_buf(iov, 3, 8, out, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_total),
		cmocka_unit_test(test_advance),
		cmocka_unit_test(test_copies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
