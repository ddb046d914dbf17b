/*
 * kcxx.h - the freestanding C++ subset our kernel cores are written in.
 *
 * Owns: basic types, fallible placement construction, clang thread-safety
 * annotation macros, a [[nodiscard]] non-copyable lock guard, and an
 * intrusive doubly linked list that asserts it is empty when destroyed.
 *
 * Rules (docs/design.md §3): no kernel header, no std:: header, no exceptions, no
 * RTTI, no plain operator new, no global object with a constructor or a
 * destructor (DragonFly's kernel linker never runs .init_array).  Each core
 * declares its own extern "C" OS interface (alloc, lock, log, abort, pid),
 * implemented by its module's C glue, and passes the abort hook here through
 * KCXX_ASSERT's caller-supplied function.
 *
 * Locking: none of its own; LockGuard takes any type with lock()/unlock()
 * annotated as a capability.
 */
#ifndef KCXX_H
#define KCXX_H

#ifndef __cplusplus
#error "kcxx.h is C++ only"
#endif

namespace kcxx {

using size_t = __SIZE_TYPE__;
using uintptr_t = __UINTPTR_TYPE__;
using int32_t = __INT32_TYPE__;
using uint32_t = __UINT32_TYPE__;
using int64_t = __INT64_TYPE__;
using uint64_t = __UINT64_TYPE__;
using uint16_t = __UINT16_TYPE__;
using uint8_t = __UINT8_TYPE__;

template <class T> struct remove_reference { using type = T; };
template <class T> struct remove_reference<T &> { using type = T; };
template <class T> struct remove_reference<T &&> { using type = T; };
template <class T>
constexpr typename remove_reference<T>::type &&move(T &&t) noexcept
{
	return static_cast<typename remove_reference<T>::type &&>(t);
}

} // namespace kcxx

/* Placement new is the only form of new the cores use. */
inline void *operator new(kcxx::size_t, void *p) noexcept { return p; }
inline void operator delete(void *, void *) noexcept {}

/* clang thread-safety analysis (checked by the host build: -Wthread-safety). */
#if defined(__clang__)
#define KCXX_TSA(x) __attribute__((x))
#else
#define KCXX_TSA(x)
#endif
#define CAPABILITY(name)	KCXX_TSA(capability(name))
#define SCOPED_CAPABILITY	KCXX_TSA(scoped_lockable)
#define GUARDED_BY(m)		KCXX_TSA(guarded_by(m))
#define PT_GUARDED_BY(m)	KCXX_TSA(pt_guarded_by(m))
#define REQUIRES(...)		KCXX_TSA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...)		KCXX_TSA(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...)		KCXX_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...)		KCXX_TSA(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS KCXX_TSA(no_thread_safety_analysis)

namespace kcxx {

/* Scoped lock: held for exactly the guard's lifetime. */
template <class Lock>
class [[nodiscard]] SCOPED_CAPABILITY LockGuard {
public:
	explicit LockGuard(Lock &l) ACQUIRE(l) : lock_(l) { lock_.lock(); }
	~LockGuard() RELEASE() { lock_.unlock(); }
	LockGuard(const LockGuard &) = delete;
	LockGuard &operator=(const LockGuard &) = delete;

private:
	Lock &lock_;
};

/*
 * Intrusive doubly linked list.  An element embeds a ListNode per list it can
 * be on; List<T, &T::node> links them.  No allocation, O(1) insert/remove.
 * The owner must empty a list before destroying it.
 */
struct ListNode {
	ListNode *prev = nullptr;
	ListNode *next = nullptr;
	bool linked() const { return next != nullptr; }
};

template <class T, ListNode T::*Node>
class List {
public:
	List() { head_.prev = head_.next = &head_; }
	/* A list destroyed while it still links elements would leave them
	 * pointing at freed memory: trap (a panic in the kernel). */
	~List()
	{
		if (!empty())
			__builtin_trap();
	}
	List(const List &) = delete;
	List &operator=(const List &) = delete;

	bool empty() const { return head_.next == &head_; }
	size_t size() const { return count_; }

	void push_back(T *t)
	{
		ListNode *n = &(t->*Node);
		n->prev = head_.prev;
		n->next = &head_;
		head_.prev->next = n;
		head_.prev = n;
		++count_;
	}
	void remove(T *t)
	{
		ListNode *n = &(t->*Node);
		n->prev->next = n->next;
		n->next->prev = n->prev;
		n->prev = n->next = nullptr;
		--count_;
	}
	/* Link t right after pos (both T; pos linked here). */
	void insert_after(T *pos, T *t)
	{
		ListNode *p = &(pos->*Node), *n = &(t->*Node);
		n->prev = p;
		n->next = p->next;
		p->next->prev = n;
		p->next = n;
		++count_;
	}
	void push_front(T *t)
	{
		ListNode *n = &(t->*Node);
		n->prev = &head_;
		n->next = head_.next;
		head_.next->prev = n;
		head_.next = n;
		++count_;
	}
	T *front() const { return empty() ? nullptr : owner(head_.next); }
	T *next(T *t) const
	{
		ListNode *n = (t->*Node).next;
		return n == &head_ ? nullptr : owner(n);
	}

private:
	static T *owner(ListNode *n)
	{
		/* offsetof for a pointer-to-member, without <cstddef> and
		 * without forming a null pointer (UBSan would object). */
		alignas(T) static constexpr unsigned char probe[sizeof(T)] = {};
		const T *fake = reinterpret_cast<const T *>(probe);
		const uintptr_t off = reinterpret_cast<uintptr_t>(&(fake->*Node)) -
		    reinterpret_cast<uintptr_t>(fake);
		return reinterpret_cast<T *>(reinterpret_cast<uintptr_t>(n) - off);
	}
	ListNode head_;
	size_t count_ = 0;
};

} // namespace kcxx

#endif /* KCXX_H */
