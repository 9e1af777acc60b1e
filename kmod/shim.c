// SPDX-License-Identifier: GPL-2.0
/*
 * strbox C shim: only what Rust cannot reach on 6.12 -- static inline
 * functions and macros that have no exported symbol and are absent from the
 * Rust bindings, structs the bindings leave opaque (struct kprobe,
 * linux_binprm), and one arch asm stub. Every function here is a thin
 * wrapper; all logic lives in the Rust crate (strbox_main.rs and its
 * modules). Exported functions the 6.12 bindings do generate (d_path,
 * module_put, force_sig, send_sig, free_percpu, ...) are called from Rust
 * directly; task_work_add() is exported but <linux/task_work.h> is not in
 * the 6.12 bindings, and init_task_work()/TWA_RESUME come with it.
 */
#include <linux/binfmts.h>
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/objtool.h>
#include <linux/percpu.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <linux/task_work.h>
#include <linux/tracepoint.h>
#include <linux/workqueue.h>
#include <asm/linkage.h>
#include <asm/syscall.h>

/* Prototypes (the kernel builds with -Wmissing-prototypes). */
int strbox_task_work_add(struct callback_head *work, task_work_func_t func);
void strbox_init_rcu_work(struct rcu_work *rwork, work_func_t func);
void strbox_tracepoint_synchronize_unregister(void);
bool strbox_module_get(void);
bool strbox_may_install(void);
bool strbox_task_no_new_privs(struct task_struct *t);
void strbox_task_set_no_new_privs(struct task_struct *t);
void strbox_lock_thread_group(void);
void strbox_unlock_thread_group(void);
bool strbox_thread_group_exiting(void);
struct task_struct *strbox_next_thread(struct task_struct *t);
void strbox_syscall_args(struct pt_regs *regs, u64 args[6]);
void strbox_syscall_skip(struct pt_regs *regs, long ret);
void strbox_syscall_set_return(struct pt_regs *regs, long ret);
void strbox_task_ident(struct task_struct *t, int *tgid, int *pid, char *comm);
bool strbox_task_exiting(struct task_struct *t);
int strbox_thread_count(void);
int strbox_lock_exec_guard(void);
void strbox_unlock_exec_guard(void);
void strbox_synchronize_rcu_tasks(void);
struct pt_regs *strbox_current_regs(void);
void strbox_task_set_tp_work(struct task_struct *t);
void strbox_task_clear_tp_work(struct task_struct *t);
void strbox_flag_all_tasks(void);
bool strbox_tp_has_foreign_probe(struct tracepoint *tp, void *ours);
unsigned long strbox_kernel_arg(struct pt_regs *regs, unsigned int n);
int strbox_kprobes_register(kprobe_pre_handler_t prctl,
			    kprobe_pre_handler_t tp_register);
void strbox_kprobes_unregister(void);
int strbox_event_kprobe_register(unsigned int slot, const char *sym,
				 kprobe_pre_handler_t handler);
void strbox_events_lock(void);
void strbox_events_unlock(void);
void strbox_event_kprobe_unregister(unsigned int slot);
void strbox_override_return(struct pt_regs *regs, long ret);
struct file *strbox_bprm_file(struct linux_binprm *bprm);
void __percpu *strbox_alloc_percpu(size_t size);
void *strbox_this_cpu_ptr(void __percpu *p);
unsigned int strbox_file_flags(struct file *f);

/* task_work_add(current, work, TWA_RESUME) after init_task_work(). */
int strbox_task_work_add(struct callback_head *work, task_work_func_t func)
{
	init_task_work(work, func);
	return task_work_add(current, work, TWA_RESUME);
}

/* INIT_RCU_WORK is a macro (it needs a lockdep class per call site). */
void strbox_init_rcu_work(struct rcu_work *rwork, work_func_t func)
{
	INIT_RCU_WORK(rwork, func);
}

/* Static inline in <linux/tracepoint.h>. */
void strbox_tracepoint_synchronize_unregister(void)
{
	tracepoint_synchronize_unregister();
}

/* try_module_get() is a static inline (module_put() is exported: Rust
 * calls it through the bindings). */
bool strbox_module_get(void)
{
	return try_module_get(THIS_MODULE);
}

/* seccomp's rule: no_new_privs, or CAP_SYS_ADMIN in the caller's userns. */
bool strbox_may_install(void)
{
	return task_no_new_privs(current) ||
	       ns_capable_noaudit(current_user_ns(), CAP_SYS_ADMIN);
}

bool strbox_task_no_new_privs(struct task_struct *t)
{
	return task_no_new_privs(t);
}

void strbox_task_set_no_new_privs(struct task_struct *t)
{
	task_set_no_new_privs(t);
}

/* current's thread list is stable while its siglock is held (as seccomp's
 * TSYNC does). */
void strbox_lock_thread_group(void)
	__acquires(&current->sighand->siglock)
{
	spin_lock_irq(&current->sighand->siglock);
}

void strbox_unlock_thread_group(void)
	__releases(&current->sighand->siglock)
{
	spin_unlock_irq(&current->sighand->siglock);
}

/*
 * Under the siglock: the whole group is being killed, or one of its
 * threads is exec'ing (de_thread() is killing the others), or current has
 * a fatal signal pending.
 */
bool strbox_thread_group_exiting(void)
{
	return (current->signal->flags & SIGNAL_GROUP_EXIT) ||
	       current->signal->group_exec_task ||
	       fatal_signal_pending(current);
}

/*
 * current->signal->cred_guard_mutex, killable, as seccomp's TSYNC takes it:
 * an exec of any thread of the group holds it from before the new
 * credentials are computed (prepare_bprm_creds) until they are installed,
 * so a TSYNC cannot put a layer or NNP on a thread mid-exec. 0 or -EINTR.
 */
int strbox_lock_exec_guard(void)
	__cond_acquires(&current->signal->cred_guard_mutex)
{
	return mutex_lock_killable(&current->signal->cred_guard_mutex);
}

void strbox_unlock_exec_guard(void)
	__releases(&current->signal->cred_guard_mutex)
{
	mutex_unlock(&current->signal->cred_guard_mutex);
}

/* A macro (synchronize_rcu) when CONFIG_TASKS_RCU is off. */
void strbox_synchronize_rcu_tasks(void)
{
	synchronize_rcu_tasks();
}

/* current_pt_regs() is a macro: the user register frame of current. */
struct pt_regs *strbox_current_regs(void)
{
	return current_pt_regs();
}

/*
 * The syscall-tracepoint work flag (x86: SYSCALL_WORK_SYSCALL_TRACEPOINT,
 * arm64: TIF_SYSCALL_TRACEPOINT): a task reaches the sys_enter probe only
 * while it is set. Atomic bitops (macros over set_bit/clear_bit).
 */
void strbox_task_set_tp_work(struct task_struct *t)
{
	set_task_syscall_work(t, SYSCALL_TRACEPOINT);
}

void strbox_task_clear_tp_work(struct task_struct *t)
{
	clear_task_syscall_work(t, SYSCALL_TRACEPOINT);
}

/*
 * Sets the flag on every task, as syscall_regfunc() does, but under RCU
 * (tasklist_lock is not exported): a task being forked may be missed; the
 * caller's protocol (selective.rs) covers it from the fork probe.
 */
void strbox_flag_all_tasks(void)
{
	struct task_struct *p, *t;

	rcu_read_lock();
	for_each_process_thread(p, t)
		set_task_syscall_work(t, SYSCALL_TRACEPOINT);
	rcu_read_unlock();
}

/*
 * Whether tp has a probe other than ours (also a tp_stub_func left by an
 * unregistration: conservative). Old probe arrays are freed after an RCU
 * grace period (release_probes), so an RCU-sched reader may walk one.
 */
bool strbox_tp_has_foreign_probe(struct tracepoint *tp, void *ours)
{
	struct tracepoint_func *f;
	bool foreign = false;

	rcu_read_lock_sched();
	f = rcu_dereference_sched(tp->funcs);
	for (; f && f->func; f++) {
		if (f->func != ours) {
			foreign = true;
			break;
		}
	}
	rcu_read_unlock_sched();
	return foreign;
}

/* The n-th argument of the probed kernel function (a static inline). */
unsigned long strbox_kernel_arg(struct pt_regs *regs, unsigned int n)
{
	return regs_get_kernel_argument(regs, n);
}

/*
 * The kprobes (struct kprobe is absent from the Rust bindings): the native
 * prctl syscall, which claims strbox's options (prctl.rs), and the three
 * exported ways to attach a tracepoint probe, which tell when another user
 * of sys_enter/sys_exit appears (selective.rs). Registered all or none.
 */
#if defined(CONFIG_X86_64)
#define STRBOX_PRCTL_SYM "__x64_sys_prctl"
#elif defined(CONFIG_ARM64)
#define STRBOX_PRCTL_SYM "__arm64_sys_prctl"
#endif

static struct kprobe strbox_kp[4];
static struct kprobe *strbox_kps[4] = {
	&strbox_kp[0], &strbox_kp[1], &strbox_kp[2], &strbox_kp[3],
};

int strbox_kprobes_register(kprobe_pre_handler_t prctl,
			    kprobe_pre_handler_t tp_register)
{
	static const char *const tp_syms[3] = {
		"tracepoint_probe_register",
		"tracepoint_probe_register_prio",
		"tracepoint_probe_register_prio_may_exist",
	};
	int i;

	strbox_kp[0].symbol_name = STRBOX_PRCTL_SYM;
	strbox_kp[0].pre_handler = prctl;
	for (i = 0; i < 3; i++) {
		strbox_kp[i + 1].symbol_name = tp_syms[i];
		strbox_kp[i + 1].pre_handler = tp_register;
	}
	return register_kprobes(strbox_kps, 4);
}

void strbox_kprobes_unregister(void)
{
	unregister_kprobes(strbox_kps, 4);
}

/* Under the siglock: the next thread of t's group (wraps to the leader). */
struct task_struct *strbox_next_thread(struct task_struct *t)
{
	return next_thread(t);
}

/* The six argument registers of the current syscall, per its ABI. */
void strbox_syscall_args(struct pt_regs *regs, u64 args[6])
{
	unsigned long a[6];
	int i;

	syscall_get_arguments(current, regs, a);
	for (i = 0; i < 6; i++)
		args[i] = a[i];
}

/*
 * Skip the syscall (the entry code re-reads the number after the
 * sys_enter tracepoint and runs nothing for -1) with return value ret.
 */
void strbox_syscall_skip(struct pt_regs *regs, long ret)
{
#ifdef CONFIG_X86_64
	regs->orig_ax = -1;
	regs->ax = ret;
#elif defined(CONFIG_ARM64)
	regs->syscallno = NO_SYSCALL;
	regs->regs[0] = ret;
#else
#error "strbox supports x86_64 and arm64"
#endif
}

/* The value the syscall returns to userspace (ret < 0: -errno). */
void strbox_syscall_set_return(struct pt_regs *regs, long ret)
{
	syscall_set_return_value(current, regs, ret < 0 ? (int)ret : 0,
				 ret < 0 ? 0 : ret);
}

/*
 * Task fields are read here rather than through the Rust bindings'
 * task_struct layout: the helpers are static inlines and keep working
 * whatever the configuration puts in between.
 */
void strbox_task_ident(struct task_struct *t, int *tgid, int *pid, char *comm)
{
	*tgid = task_tgid_nr(t);
	*pid = task_pid_nr(t);
	strscpy_pad(comm, t->comm, TASK_COMM_LEN);
}

/* PF_EXITING: set early in do_exit(), before the exit tracepoint. */
bool strbox_task_exiting(struct task_struct *t)
{
	return READ_ONCE(t->flags) & PF_EXITING;
}

/* Threads in current's group (a first guess for TSYNC's allocations). */
int strbox_thread_count(void)
{
	return get_nr_threads(current);
}


/*
 * The LSM-hook events (events.rs): one kprobe at the entry of each
 * security_* function, registered one by one when the first layer that
 * needs it is installed, so that a kernel without one of them (e.g. no
 * CONFIG_SECURITY_NETWORK) refuses only the policies that need it.
 */
#define STRBOX_EVENT_KPROBES 4
static struct kprobe strbox_event_kp[STRBOX_EVENT_KPROBES];

/* Serialises arming (events.rs: arm); DEFINE_MUTEX is a macro. */
static DEFINE_MUTEX(strbox_events_mutex);

void strbox_events_lock(void)
	__acquires(&strbox_events_mutex)
{
	mutex_lock(&strbox_events_mutex);
}

void strbox_events_unlock(void)
	__releases(&strbox_events_mutex)
{
	mutex_unlock(&strbox_events_mutex);
}

int strbox_event_kprobe_register(unsigned int slot, const char *sym,
				 kprobe_pre_handler_t handler)
{
	if (slot >= STRBOX_EVENT_KPROBES)
		return -EINVAL;
	memset(&strbox_event_kp[slot], 0, sizeof(strbox_event_kp[slot]));
	strbox_event_kp[slot].symbol_name = sym;
	strbox_event_kp[slot].pre_handler = handler;
	return register_kprobe(&strbox_event_kp[slot]);
}

void strbox_event_kprobe_unregister(unsigned int slot)
{
	if (slot < STRBOX_EVENT_KPROBES)
		unregister_kprobe(&strbox_event_kp[slot]);
}

/*
 * Make the probed function return `ret` at once, without running its body:
 * what the kernel's override_function_with_return() does for error
 * injection (not exported). Called from a kprobe pre-handler at the
 * function's entry, which then returns 1 ("regs changed, resume at
 * regs->ip"): on x86_64 the return address is still on top of the stack,
 * so resuming at a lone `ret` returns to the caller; on arm64 it is still
 * in the link register.
 */
#if defined(CONFIG_X86_64)
asmlinkage void strbox_just_return(void);
asm(
	".text\n"
	".type strbox_just_return, @function\n"
	".globl strbox_just_return\n"
	ASM_FUNC_ALIGN
	"strbox_just_return:\n"
		ANNOTATE_NOENDBR
		ASM_RET
	".size strbox_just_return, .-strbox_just_return\n"
);

void strbox_override_return(struct pt_regs *regs, long ret)
{
	regs->ax = ret;
	regs->ip = (unsigned long)&strbox_just_return;
}
#elif defined(CONFIG_ARM64)
void strbox_override_return(struct pt_regs *regs, long ret)
{
	regs->regs[0] = ret;
	instruction_pointer_set(regs, procedure_link_pointer(regs));
}
#endif

/* struct linux_binprm is opaque to the Rust bindings. */
struct file *strbox_bprm_file(struct linux_binprm *bprm)
{
	return bprm->file;
}

/* alloc_percpu()/this_cpu_ptr() are macros. */
void __percpu *strbox_alloc_percpu(size_t size)
{
	return __alloc_percpu(size, sizeof(long));
}

void *strbox_this_cpu_ptr(void __percpu *p)
{
	return this_cpu_ptr(p);
}

/*
 * An opened file's f_flags without the bits the kernel adds itself:
 * O_LARGEFILE (forced on 64-bit), __FMODE_EXEC (exec's own opens) and
 * __FMODE_NONOTIFY. (O_CREAT, O_EXCL, O_NOCTTY and O_TRUNC are still set:
 * do_dentry_open() drops them after security_file_open(); O_CLOEXEC was
 * stripped by build_open_flags().)
 */
unsigned int strbox_file_flags(struct file *f)
{
	return f->f_flags & ~(O_LARGEFILE | __FMODE_EXEC | __FMODE_NONOTIFY);
}
