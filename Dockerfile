# starttlsd container image: build on debian:bookworm, run on bookworm-slim
# with only the runtime libraries (etc/container/packages), as a non-root user.
#
#   docker build -t starttlsd .
#   docker run -d --name starttlsd -p 25:25 -p 465:465 -p 587:587 \
#       --sysctl net.ipv4.ip_unprivileged_port_start=0 --cap-drop ALL --read-only \
#       -v "$PWD/config:/etc/starttlsd/config:ro" -v "$PWD/tls:/etc/starttlsd/tls:ro" \
#       --health-cmd '/usr/sbin/starttlsd --probe -c /etc/starttlsd/config/starttlsd.ini' \
#       starttlsd -c /etc/starttlsd/config/starttlsd.ini
#
# ./config holds starttlsd.ini (start from etc/container/starttlsd.ini; its
# backend = mta:2525 needs the MTA reachable as "mta": a network alias, or
# --add-host mta:ADDRESS, or edit it), ./tls holds tls.crt and tls.key, readable
# by the image's user. Both are mounted as directories, read-only: a file
# replaced by renaming over it (an editor, certbot, a Kubernetes volume) is
# seen by SIGHUP and by [tls] watch = yes, which a single-file mount would
# hide. Without arguments the image serves its built-in copy of
# etc/container/starttlsd.ini, /etc/starttlsd/starttlsd.ini, which the CMD and
# the HEALTHCHECK below name; "-c" after the image name replaces that CMD, and
# --health-cmd makes the health check probe the same file (etc/compose.yaml
# does both; Kubernetes ignores HEALTHCHECK).
#
# starttlsd listens on 25, 465 and 587 itself, as its unprivileged user with no
# capabilities: a network namespace with net.ipv4.ip_unprivileged_port_start=0
# lets it (Docker 20.10 and later set that by default except with --network
# host, which allows no such sysctl; Kubernetes: see etc/kubernetes/).

FROM debian:bookworm AS build
COPY tools/install-deps /src/tools/install-deps
RUN /src/tools/install-deps --build
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && ninja -C /build starttlsd man \
 && DESTDIR=/staging cmake --install /build --prefix /usr \
 && rm -rf /staging/usr/lib/systemd /staging/usr/lib/sysusers.d

FROM debian:bookworm-slim
COPY etc/container/packages /tmp/packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/packages
COPY --from=build /staging/ /
COPY etc/container/setup /usr/local/sbin/starttlsd-setup
RUN /usr/local/sbin/starttlsd-setup
COPY etc/container/starttlsd.ini /etc/starttlsd/starttlsd.ini
USER starttlsd
EXPOSE 25 465 587
STOPSIGNAL SIGTERM
# Healthy when every listener answers as it would a client: a STARTTLS
# listener greets with 220, so the backend is up too. starttlsd probes
# itself; the image needs no other tool.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s \
  CMD ["/usr/sbin/starttlsd", "--probe", "--config", "/etc/starttlsd/starttlsd.ini"]
ENTRYPOINT ["/usr/sbin/starttlsd"]
CMD ["--config", "/etc/starttlsd/starttlsd.ini"]
