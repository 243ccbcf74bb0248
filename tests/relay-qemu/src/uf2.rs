//! UF2, the format a Pico's boot ROM takes on its USB drive (Microsoft's
//! <https://github.com/microsoft/uf2> specification): 512-byte blocks, each with two start
//! magics, flags, a target address, 256 bytes of payload, its number, the block count, the
//! family id (RP2040: 0xe48bff56) and an end magic. `pack` writes one from a flat binary;
//! `check` reads one back and says what a boot ROM would be given.

pub const MAGIC_START0: u32 = 0x0A32_4655;
pub const MAGIC_START1: u32 = 0x9E5D_5157;
pub const MAGIC_END: u32 = 0x0AB1_6F30;
/// Flag: the family id field is set.
pub const FLAG_FAMILY: u32 = 0x0000_2000;
pub const FAMILY_RP2040: u32 = 0xE48B_FF56;
/// The RP2040's flash (XIP) base, where its image (boot2 first) starts.
pub const RP2040_FLASH: u32 = 0x1000_0000;
const PAYLOAD: usize = 256;
const BLOCK: usize = 512;

/// `bin` (a flat image starting at `base`) as UF2 blocks for `family`.
pub fn pack(bin: &[u8], base: u32, family: u32) -> Vec<u8> {
    let count = bin.len().div_ceil(PAYLOAD) as u32;
    let mut out = Vec::with_capacity(count as usize * BLOCK);
    for (n, chunk) in bin.chunks(PAYLOAD).enumerate() {
        let mut b = [0u8; BLOCK];
        let words = [
            MAGIC_START0,
            MAGIC_START1,
            FLAG_FAMILY,
            base + (n * PAYLOAD) as u32,
            PAYLOAD as u32,
            n as u32,
            count,
            family,
        ];
        for (i, w) in words.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        b[32..32 + chunk.len()].copy_from_slice(chunk);
        b[BLOCK - 4..].copy_from_slice(&MAGIC_END.to_le_bytes());
        out.extend_from_slice(&b);
    }
    out
}

/// What a UF2 file holds, once checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub blocks: u32,
    pub family: u32,
    pub first: u32,
    /// One past the last byte written.
    pub end: u32,
}

/// Checks every block of `uf2`: magics, flags, payload size, numbering, count, family, and
/// addresses contiguous from the first; the image it carries is returned flat.
pub fn check(uf2: &[u8]) -> Result<(Summary, Vec<u8>), String> {
    if uf2.is_empty() || uf2.len() % BLOCK != 0 {
        return Err(format!(
            "{} bytes: not a whole number of 512-byte blocks",
            uf2.len()
        ));
    }
    let word = |b: &[u8], i: usize| {
        u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]])
    };
    let total = (uf2.len() / BLOCK) as u32;
    let mut flat = Vec::new();
    let mut summary = None::<Summary>;
    for (n, b) in uf2.chunks(BLOCK).enumerate() {
        let n = n as u32;
        let at = |what: &str| format!("block {n}: {what}");
        if word(b, 0) != MAGIC_START0 || word(b, 1) != MAGIC_START1 {
            return Err(at("bad start magic"));
        }
        if u32::from_le_bytes([b[508], b[509], b[510], b[511]]) != MAGIC_END {
            return Err(at("bad end magic"));
        }
        if word(b, 2) & FLAG_FAMILY == 0 {
            return Err(at("no family id flag"));
        }
        let (addr, size, num, count, family) =
            (word(b, 3), word(b, 4), word(b, 5), word(b, 6), word(b, 7));
        if size as usize != PAYLOAD {
            return Err(at(&format!("payload of {size} bytes, not 256")));
        }
        if num != n || count != total {
            return Err(at(&format!("numbered {num} of {count}, is {n} of {total}")));
        }
        let s = summary.get_or_insert(Summary {
            blocks: total,
            family,
            first: addr,
            end: addr,
        });
        if family != s.family {
            return Err(at(&format!(
                "family {family:#x}, the first block's is {:#x}",
                s.family
            )));
        }
        if addr != s.end {
            return Err(at(&format!("address {addr:#x}, expected {:#x}", s.end)));
        }
        s.end = addr + size;
        flat.extend_from_slice(&b[32..32 + PAYLOAD]);
    }
    summary
        .map(|s| (s, flat))
        .ok_or_else(|| "no blocks".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_image_checks_and_carries_the_bytes() {
        let bin: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let uf2 = pack(&bin, RP2040_FLASH, FAMILY_RP2040);
        assert_eq!(uf2.len(), 4 * 512);
        let (s, flat) = check(&uf2).unwrap();
        assert_eq!(
            s,
            Summary {
                blocks: 4,
                family: FAMILY_RP2040,
                first: RP2040_FLASH,
                end: RP2040_FLASH + 1024
            }
        );
        assert_eq!(&flat[..1000], &bin[..]);
        assert!(flat[1000..].iter().all(|&b| b == 0));
        // The specification's layout: magics at 0, 4 and 508, the address at 12, the family at 28.
        assert_eq!(&uf2[0..4], &0x0A32_4655u32.to_le_bytes());
        assert_eq!(
            &uf2[512 + 12..512 + 16],
            &(RP2040_FLASH + 256).to_le_bytes()
        );
        assert_eq!(&uf2[28..32], &0xE48B_FF56u32.to_le_bytes());
    }

    #[test]
    fn damaged_files_are_refused() {
        let uf2 = pack(&[1u8; 600], RP2040_FLASH, FAMILY_RP2040);
        let mut bad = uf2.clone();
        bad[512 + 508] ^= 1;
        assert_eq!(check(&bad).unwrap_err(), "block 1: bad end magic");
        let mut bad = uf2.clone();
        bad[512 + 13] ^= 0xff;
        assert!(check(&bad).unwrap_err().contains("address"));
        let mut bad = uf2.clone();
        bad[512 + 28] ^= 0xff;
        assert!(check(&bad).unwrap_err().contains("family"));
        assert!(check(&uf2[..1000]).is_err());
        let mut bad = uf2;
        bad[24] = 9;
        assert!(check(&bad).unwrap_err().contains("numbered"));
    }
}
