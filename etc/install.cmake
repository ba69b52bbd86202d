# Installation (make install = cmake --install, honouring DESTDIR and
# --prefix) and the Debian package (make deb = CPack). Included by the
# top-level CMakeLists.txt.
#
#   PREFIX/sbin/starttlsd
#   /etc/starttlsd/starttlsd.ini              (kept if present; STARTTLSD_SYSCONFDIR)
#   PREFIX/lib/systemd/system/starttlsd.service
#   PREFIX/lib/sysusers.d/starttlsd.conf
#   PREFIX/share/man/man8/starttlsd.8, man5/starttlsd.ini.5
#   PREFIX/share/doc/starttlsd/               (README, CHANGELOG, LICENSE, the example config)

set(STARTTLSD_SYSCONFDIR "/etc" CACHE PATH "Where starttlsd/starttlsd.ini lives (absolute)")
set(STARTTLSD_UNITDIR "lib/systemd/system" CACHE STRING "systemd unit directory (relative to the prefix)")
set(STARTTLSD_SYSUSERSDIR "lib/sysusers.d" CACHE STRING "sysusers.d directory (relative to the prefix)")
set(STARTTLSD_CONFIG_PATH "${STARTTLSD_SYSCONFDIR}/starttlsd/starttlsd.ini")
target_compile_definitions(starttlsd PRIVATE STARTTLSD_CONFIG="${STARTTLSD_CONFIG_PATH}")

# The man pages, from the same source as the README's configuration section.
find_program(PYTHON3_FOR_DOCS python3 REQUIRED)
set(man_out ${CMAKE_BINARY_DIR}/man/starttlsd.8 ${CMAKE_BINARY_DIR}/man/starttlsd.ini.5)
add_custom_command(OUTPUT ${man_out}
  COMMAND ${PYTHON3_FOR_DOCS} ${PROJECT_SOURCE_DIR}/tools/gen-docs man ${CMAKE_BINARY_DIR}/man
  DEPENDS ${PROJECT_SOURCE_DIR}/tools/gen-docs ${PROJECT_SOURCE_DIR}/tools/docs/starttlsd.8.md
          ${PROJECT_SOURCE_DIR}/tools/docs/starttlsd.ini.5.md
  COMMENT "Man pages from tools/docs")
add_custom_target(man ALL DEPENDS ${man_out})

install(TARGETS starttlsd RUNTIME DESTINATION sbin)
install(FILES ${CMAKE_BINARY_DIR}/man/starttlsd.8 DESTINATION share/man/man8)
install(FILES ${CMAKE_BINARY_DIR}/man/starttlsd.ini.5 DESTINATION share/man/man5)
install(FILES README.md CHANGELOG.md LICENSE DESTINATION share/doc/starttlsd)
install(FILES etc/starttlsd.ini DESTINATION share/doc/starttlsd RENAME starttlsd.ini.example)
install(FILES etc/sysusers.conf DESTINATION ${STARTTLSD_SYSUSERSDIR} RENAME starttlsd.conf)

# The unit names /usr/sbin/starttlsd and /etc/starttlsd/starttlsd.ini; an
# install elsewhere gets its own paths. The configuration is installed only
# where there is none: an administrator's file is never replaced.
install(CODE "
  set(dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${STARTTLSD_UNITDIR}\")
  file(READ \"${PROJECT_SOURCE_DIR}/etc/starttlsd.service\" unit)
  string(REPLACE \"/usr/sbin/starttlsd\" \"\${CMAKE_INSTALL_PREFIX}/sbin/starttlsd\" unit \"\${unit}\")
  string(REPLACE \"/etc/starttlsd/starttlsd.ini\" \"${STARTTLSD_CONFIG_PATH}\" unit \"\${unit}\")
  file(MAKE_DIRECTORY \"\${dest}\")
  file(WRITE \"\${dest}/starttlsd.service\" \"\${unit}\")
  message(STATUS \"Installing: \${dest}/starttlsd.service\")
  set(conf \"\$ENV{DESTDIR}${STARTTLSD_CONFIG_PATH}\")
  if(EXISTS \"\${conf}\")
    message(STATUS \"Keeping: \${conf} (the shipped one is share/doc/starttlsd/starttlsd.ini.example)\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/etc/starttlsd.ini\" DESTINATION \"${STARTTLSD_SYSCONFDIR}/starttlsd\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
")

# make deb: a Debian package of the above, with prefix /usr.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME starttlsd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "starttlsd maintainers <starttlsd@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TLS in front of a plaintext SMTP server (STARTTLS and implicit TLS)")
set(CPACK_PACKAGE_DESCRIPTION "starttlsd terminates TLS for a mail server that only speaks plaintext SMTP:
it adds STARTTLS to the server's EHLO reply, answers it, and forwards the
cleartext session over loopback. It parses both directions to block STARTTLS
command injection and SMTP smuggling.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/starttlsd")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libuv1 (>= 1.44), android-libboringssl (>= 13), libinih1 (>= 55), ssl-cert, adduser")
# ca-certificates: the trust store of outbound listeners (backend_tls, backend_verify = yes).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "swaks")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/etc/debian/conffiles ${PROJECT_SOURCE_DIR}/etc/debian/postinst
    ${PROJECT_SOURCE_DIR}/etc/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES OFF)
include(CPack)
