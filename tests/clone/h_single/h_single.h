/*
 * h_single.h - ioctls of the single-instance test driver (tests only).
 *
 * /dev/hsingle keeps one instance per cdev in si_drv1: the first open
 * (needs FWRITE, else EPERM) makes it, a second open of the same cdev gets
 * EBUSY, the device's last close frees it.  Usable from user (test) code
 * and kernel code: no includes.
 */
#ifndef H_SINGLE_H
#define H_SINGLE_H

/* BSD encodings (IOC_IN 0x80000000, IOC_OUT 0x40000000), group 'h'. */
#define HS_IOC_SET	0x80046801UL	/* _IOW('h', 1, int): store a value */
#define HS_IOC_GET	0x40046802UL	/* _IOR('h', 2, int): read it back */
#define HS_IOC_SLEEP	0x80046803UL	/* _IOW('h', 3, int): sleep n ticks */
#define HS_IOC_SERIAL	0x40046804UL	/* _IOR('h', 4, int): instance serial */

#endif /* H_SINGLE_H */
