//! The architectures strbox boots, and what differs between them.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
    /// The kernel's ARCH=.
    pub fn karch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86",
            Arch::Aarch64 => "arm64",
        }
    }
    /// Kernel image make target and its path in the build tree.
    pub fn image_target(self) -> (&'static str, &'static str) {
        match self {
            Arch::X86_64 => ("bzImage", "arch/x86/boot/bzImage"),
            Arch::Aarch64 => ("Image", "arch/arm64/boot/Image"),
        }
    }
    /// Debian's architecture name.
    pub fn deb_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }
    /// The ELF header's `e_machine`.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,   // EM_X86_64
            Arch::Aarch64 => 183, // EM_AARCH64
        }
    }
    pub fn musl_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }
    pub fn qemu_package(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86",
            Arch::Aarch64 => "qemu-system-arm",
        }
    }
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Aarch64 => "ttyAMA0",
        }
    }
    /// Machine/CPU arguments for TCG.
    pub fn qemu_machine(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["-cpu", "max"],
            Arch::Aarch64 => &["-M", "virt", "-cpu", "max"],
        }
    }
    pub fn is_host(self) -> bool {
        std::env::consts::ARCH == self.name()
    }
}
