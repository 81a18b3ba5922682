# The Debian package (make package; docs/development.md#the-debian-package): CPack's DEB
# generator over these install rules, so the package is made from the binary the build already
# has (no second build from source as debian/rules would need, no debhelper).
# Files: /usr/bin/tally, /etc/tally/tally.toml (conffile), /usr/share/tally/statistics.toml,
# /lib/systemd/system/tally.service, tally(1), /usr/share/doc/tally; maintainer scripts in
# deploy/debian create the `tally` system user and /var/lib/tally, purge removes them.
set(deb_dir ${PROJECT_SOURCE_DIR}/deploy/debian)

# Compressed as lintian wants (gzip -n: no name or timestamp, reproducible).
set(pkg_gen ${PROJECT_BINARY_DIR}/package)
add_custom_command(
  OUTPUT ${pkg_gen}/tally.1.gz ${pkg_gen}/changelog.Debian.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${pkg_gen}
  COMMAND sh -c "gzip -9n -c '${deb_dir}/tally.1' > '${pkg_gen}/tally.1.gz'"
  COMMAND sh -c "gzip -9n -c '${deb_dir}/changelog' > '${pkg_gen}/changelog.Debian.gz'"
  DEPENDS ${deb_dir}/tally.1 ${deb_dir}/changelog
  VERBATIM)
add_custom_target(tally_package_files ALL DEPENDS ${pkg_gen}/tally.1.gz
                                                  ${pkg_gen}/changelog.Debian.gz)

install(TARGETS tally RUNTIME DESTINATION bin)
install(FILES ${deb_dir}/tally.toml DESTINATION /etc/tally)
install(FILES ${PROJECT_SOURCE_DIR}/config/statistics.toml DESTINATION share/tally)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/tally.service DESTINATION /lib/systemd/system)
install(FILES ${pkg_gen}/tally.1.gz DESTINATION share/man/man1)
install(FILES ${deb_dir}/copyright ${pkg_gen}/changelog.Debian.gz DESTINATION share/doc/tally)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tally)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "Tally Dev <dev@tally.invalid>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://tally.invalid/")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "real-time contact-center statistics server")
# The extended description: CPack indents each line and turns an empty one into " .".
string(JOIN "\n" CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "Tally computes contact-center statistics (agent states, queue figures,"
  "service levels) from telephony events in real time and serves them through"
  "the Genesys Statistics API v3: REST, CometD notifications and an event"
  "ingest API. Every accepted event is journaled in SQLite, and a restart"
  "rebuilds the state from a snapshot and the journal."
  ""
  "The package runs it as a hardened systemd service (Type=notify, watchdog).")
# Library dependencies from dpkg-shlibdeps; adduser for postinst, tzdata for time zones.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, tzdata")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${deb_dir}/conffiles ${deb_dir}/postinst ${deb_dir}/prerm ${deb_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
