# starttlsd container image: build on debian:bookworm, run on bookworm-slim
# with only the runtime libraries (etc/container/packages), as a non-root user.
#
#   docker build -t starttlsd .
#   docker run -v ./starttlsd.ini:/etc/starttlsd/starttlsd.ini:ro \
#              -v ./tls:/etc/starttlsd/tls:ro -p 25:25 -p 465:465 -p 587:587 starttlsd
#
# The configuration and the certificates are mounted read-only; with
# [tls] watch = yes a renewed certificate is picked up without a restart.
# Ports below 1024 work for the non-root user because Docker sets
# net.ipv4.ip_unprivileged_port_start=0 in a container's network namespace
# (Kubernetes: see etc/kubernetes/).

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
