# The TaskGuard sidecar image.
#
# Build it from the sidecar volume layout, not from source:
#
#     cargo xtask dist                    # builds dist/guard/{bin,lib,run}
#     docker build -t taskguard .
#
# The image is nothing but that layout on a base with glibc (dns-guard links against it; the
# launcher guard-exec is static and the preload shim is loaded into the *app* containers).
# App containers mount it with `volumesFrom` (readOnly), so the layout is declared as a VOLUME
# and every file stays readable by non-root users: 0755 directories and programs, 0644 for the
# shared library. Docker keeps the build context's modes, which `cargo xtask dist` sets, and
# tests/tests/dist_layout.rs checks that this file and that layout agree.
FROM gcr.io/distroless/cc-debian12

COPY dist/guard/ /guard/

# Declared after the COPY so the volume is populated from the image when a task starts.
VOLUME /guard

# ECS ignores an image HEALTHCHECK (guard-embed writes the same command into the task
# definition's healthCheck); it is here for `docker run`.
HEALTHCHECK --interval=10s --timeout=3s CMD ["/guard/bin/dns-guard", "health"]

# guard-embed writes the full command line into the task definition. Its default policy source,
# like this CMD, is /guard/policy.toml, which a derived image adds:
#     FROM taskguard
#     COPY policy.toml /guard/policy.toml
# (or embed with --policy-url to poll a policy over http(s) instead).
ENTRYPOINT ["/guard/bin/dns-guard", "serve", "--run-dir", "/guard/run"]
CMD ["--policy", "/guard/policy.toml"]
