//! `relay-uf2 pack IN.bin OUT.uf2` (RP2040: base 0x10000000, family 0xe48bff56) and
//! `relay-uf2 check FILE.uf2`: what `tests/boards.sh` makes and checks the Pico's UF2 with.

use relay_qemu::uf2;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["pack", input, output] => std::fs::read(input)
            .map_err(|e| format!("{input}: {e}"))
            .and_then(|bin| {
                let out = uf2::pack(&bin, uf2::RP2040_FLASH, uf2::FAMILY_RP2040);
                std::fs::write(output, out).map_err(|e| format!("{output}: {e}"))
            }),
        ["check", file] => std::fs::read(file)
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|b| uf2::check(&b).map_err(|e| format!("{file}: {e}")))
            .and_then(|(s, _)| {
                if s.family != uf2::FAMILY_RP2040 || s.first != uf2::RP2040_FLASH {
                    return Err(format!("{file}: not an RP2040 image at 0x10000000: {s:?}"));
                }
                println!(
                    "{file}: {} blocks, family {:#010x}, {:#010x}..{:#010x}",
                    s.blocks, s.family, s.first, s.end
                );
                Ok(())
            }),
        _ => Err("usage: relay-uf2 pack IN.bin OUT.uf2 | relay-uf2 check FILE.uf2".into()),
    };
    if let Err(e) = r {
        eprintln!("relay-uf2: {e}");
        std::process::exit(1);
    }
}
