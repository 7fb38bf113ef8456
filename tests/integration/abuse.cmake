# Issue 9, abuse and isolation: hostile HTTP clients on the plain and the
# TLS listener (abuse_http.sh, with tests/tools/c360_abuse.c), three tenants
# trying each other's routes and webhooks (isolation.sh), and a scan for
# canary secrets after a full flow (leak_scan.sh). About 25 s together
# under ctest -j2 in the ASan build. (C360CTL is in IT_ENV already.)
c360_integration(abuse_http 120)
c360_integration(isolation 150)
c360_integration(leak_scan 150)
