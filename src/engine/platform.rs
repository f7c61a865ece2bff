//! The machine a scenario runs on: PyTorch's dispatch and fbgemm's kernels
//! depend on the CPU's instruction set and on the OS.
use serde::{Deserialize, Serialize};

/// The x86 instruction set the kernels find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cpu {
    /// AVX2 without AVX512 (most laptops and desktops).
    Avx2,
    /// AVX512 without VNNI (Skylake-SP servers).
    Avx512,
    /// AVX512 with VNNI (Cascade Lake and later servers, the golden vectors' machine).
    #[default]
    Avx512Vnni,
}

impl Cpu {
    pub const ALL: [Cpu; 3] = [Cpu::Avx2, Cpu::Avx512, Cpu::Avx512Vnni];
    pub fn id(self) -> &'static str {
        match self {
            Cpu::Avx2 => "avx2",
            Cpu::Avx512 => "avx512",
            Cpu::Avx512Vnni => "avx512_vnni",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Cpu::Avx2 => "AVX2",
            Cpu::Avx512 => "AVX512 (no VNNI)",
            Cpu::Avx512Vnni => "AVX512-VNNI",
        }
    }
    pub fn parse(s: &str) -> Option<Cpu> {
        Cpu::ALL.into_iter().find(|c| c.id() == s)
    }
    /// `vpdpbusd` adds four u8·s8 products into int32 exactly; without it
    /// fbgemm's `vpmaddubsw` adds pairs with int16 saturation.
    pub fn has_vnni(self) -> bool {
        self == Cpu::Avx512Vnni
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Os {
    #[default]
    Linux,
    /// Windows or macOS: PyTorch's x86 engine never picks oneDNN there.
    Other,
}

impl Os {
    pub const ALL: [Os; 2] = [Os::Linux, Os::Other];
    pub fn id(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Other => "other",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Os::Linux => "Linux",
            Os::Other => "Windows or macOS",
        }
    }
    pub fn parse(s: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|c| c.id() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Platform {
    pub cpu: Cpu,
    pub os: Os,
    /// `cpu` is not the CPU but `FBGEMM_ENABLE_INSTRUCTIONS` on an AVX512-VNNI
    /// host (how the golden vectors for AVX2/AVX512 were made): fbgemm's GEMM
    /// kernels use `cpu`, while its groupwise path and PyTorch's dispatch still
    /// see the host's VNNI.
    pub emulated: bool,
}

/// Named platforms for the page's picker: (id, title, platform).
pub const NAMED: &[(&str, &str, Platform)] = &[
    (
        "vnni-linux",
        "AVX512-VNNI Linux server",
        Platform {
            cpu: Cpu::Avx512Vnni,
            os: Os::Linux,
            emulated: false,
        },
    ),
    (
        "vnni-other",
        "AVX512-VNNI on Windows or macOS",
        Platform {
            cpu: Cpu::Avx512Vnni,
            os: Os::Other,
            emulated: false,
        },
    ),
    (
        "avx512-linux",
        "AVX512 server without VNNI (Skylake)",
        Platform {
            cpu: Cpu::Avx512,
            os: Os::Linux,
            emulated: false,
        },
    ),
    (
        "avx2-laptop",
        "AVX2 laptop or desktop",
        Platform {
            cpu: Cpu::Avx2,
            os: Os::Linux,
            emulated: false,
        },
    ),
];

impl Platform {
    pub fn title(&self) -> String {
        if self.emulated {
            format!(
                "{} forced by FBGEMM_ENABLE_INSTRUCTIONS on an AVX512-VNNI host, {}",
                self.cpu.title(),
                self.os.title()
            )
        } else {
            format!("{}, {}", self.cpu.title(), self.os.title())
        }
    }
    /// The instruction sets fbgemm sees here.
    pub fn fbgemm_isa(&self) -> crate::fbgemm_gemm::FbgemmIsa {
        use crate::fbgemm_gemm::FbgemmIsa;
        if self.emulated {
            FbgemmIsa::forced(self.cpu)
        } else {
            FbgemmIsa::native(self.cpu)
        }
    }
    /// What cpuinfo reports: the host's VNNI survives the fbgemm variable.
    pub fn reports_vnni(&self) -> bool {
        self.emulated || self.cpu.has_vnni()
    }
}
