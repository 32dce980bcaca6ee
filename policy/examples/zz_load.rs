fn main() {
    let mut s = String::from("[dns]\ndefault = \"allow\"\ndeny = [\n");
    for i in 0..80000 {
        if i % 2 == 0 {
            s.push_str(&format!("  \"host{i}.team{}.example.com\",\n", i % 997));
        } else {
            s.push_str(&format!("  \"*.zone{i}.corp{}.net\",\n", i % 113));
        }
    }
    s.push_str("]\n[process]\ndefault = \"allow\"\ndeny = [\n");
    for i in 0..20000 {
        s.push_str(&format!("  \"/opt/app{i}/bin/tool{i}\",\n"));
    }
    s.push_str("]\n");
    for _ in 0..10 {
        let p = guard_policy::Policy::from_toml(&s, "x").unwrap();
        std::hint::black_box(p.compile());
    }
}
