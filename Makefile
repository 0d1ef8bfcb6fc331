# The two set-up commands of the README:
#   make demo   installs what is missing, builds, creates Data/demo if absent, starts ocspd
#   make test   installs what is missing, builds, runs every test (the root package's, then the
#               nested package Integrations/NIOSSL's, then the end-to-end tests), and builds the
#               example package Examples/RevocationClient
# And: make docs  the DocC catalogs of the four library products, into .build/docs
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.PHONY: demo test deps build build-release unit niossl e2e docs clean
# The dependency check and the demo script print what matters themselves; their text is noise.
.SILENT: deps demo

PORT ?= 8080
DEMO_DIR ?= Data/demo
APT_PACKAGES := libssl-dev liblmdb-dev libmicrohttpd-dev libcurl4-openssl-dev libpq-dev openssl lmdb-utils curl
# Peers only the tests run: a real Prometheus server and promtool.
TEST_APT_PACKAGES := prometheus nginx-light haproxy softhsm2 opensc libengine-pkcs11-openssl postgresql golang-cfssl iproute2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

deps:
	missing=""
	for p in $(APT_PACKAGES) $(EXTRA_APT_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done
	if [ -n "$$missing" ]; then
	  echo "installing:$$missing"
	  $(SUDO) apt-get update -qq
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null
	fi
	python3 -c 'import cryptography, pytest' 2>/dev/null || python3 -m pip install -q cryptography pytest
	if [ -n "$(EXTRA_APT_PACKAGES)" ]; then
	  python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install -q prometheus-client
	  python3 -c 'import filtercascade' 2>/dev/null || python3 -m pip install -q filtercascade
	fi
	command -v swift >/dev/null || { echo "swift is not on PATH (expected Swift 6 at /opt/swift/usr/bin)"; exit 1; }

build: deps
	swift build

# The demo needs only the two binaries (not the load tester's SwiftNIO).
build-release: deps
	swift build -c release --product ocspctl
	swift build -c release --product ocspd

demo: build-release
	bin=$$(swift build -c release --product ocspd --show-bin-path)
	url=http://127.0.0.1:$(PORT)/
	"$$bin/ocspctl" demo --dir $(DEMO_DIR) --url "$$url"
	log=$$(mktemp)
	"$$bin/ocspd" --store $(DEMO_DIR)/store --listen 127.0.0.1:$(PORT) --public-url "$$url" --log-format text > >(tee "$$log") &
	pid=$$!
	trap 'kill $$pid 2>/dev/null || true; rm -f "$$log"' EXIT INT TERM
	for _ in $$(seq 100); do grep -q listening "$$log" && break; kill -0 $$pid || exit 1; sleep 0.1; done
	echo
	echo "Paste this in another terminal (good leaf, then a revoked one, verified against the demo root):"
	echo
	echo "  openssl ocsp -issuer $(DEMO_DIR)/ec-root.pem -cert $(DEMO_DIR)/leaves/leaf-ec-01.pem -cert $(DEMO_DIR)/leaves/leaf-ec-02.pem -url $$url -CAfile $(DEMO_DIR)/ec-root.pem -VAfile $(DEMO_DIR)/responder.pem"
	echo
	echo "RSA CA (signs its own responses):"
	echo "  openssl ocsp -issuer $(DEMO_DIR)/rsa-ca.pem -cert $(DEMO_DIR)/leaves/leaf-rsa-01.pem -url $$url -CAfile $(DEMO_DIR)/rsa-ca.pem"
	echo
	echo "Revoke while it runs:  $$bin/ocspctl revoke --store $(DEMO_DIR)/store --cert $(DEMO_DIR)/leaves/leaf-ec-03.pem --reason superseded"
	echo "ocspd is running (pid $$pid); Ctrl-C stops it."
	wait $$pid || true

unit: deps
	swift build --build-tests
	swift test --skip-build

# The nested package Integrations/NIOSSL (RevocationCheckingTLS, on swift-nio-ssl and so BoringSSL;
# the root package never builds it). Its tests run the root package's debug ocspctl, built first.
NIOSSL_TEST := cd Integrations/NIOSSL && swift build --build-tests && swift test --skip-build
niossl: deps
	swift build --product ocspctl
	$(NIOSSL_TEST)

e2e: EXTRA_APT_PACKAGES := $(TEST_APT_PACKAGES)
e2e: build
	python3 -m pytest Tests/EndToEnd -q -p no:cacheprovider

# The library products' documentation (swift-docc-plugin; docc from the toolchain), one archive
# per module in .build/docs/<Module>; a warning (a broken link, an undocumented parameter) fails
# it. Then the articles' code must still be the code Examples/RevocationClient compiles.
DOC_TARGETS := OCSPValues OCSPCore OCSPStapling RevocationChecking
docs: deps
	mkdir -p .build/docs
	for target in $(DOC_TARGETS); do
	  swift package --allow-writing-to-directory .build/docs generate-documentation --target "$$target" \
	    --output-path ".build/docs/$$target" --warnings-as-errors
	done
	python3 Examples/RevocationClient/check_snippets.py

# One debug build with tests enabled serves the unit tests, the nested package's tests (ocspctl)
# and the end-to-end tests' binaries. The nested package runs in a subshell: pytest runs at the root.
test: EXTRA_APT_PACKAGES := $(TEST_APT_PACKAGES)
test: deps
	swift build --build-tests
	swift test --skip-build
	($(NIOSSL_TEST))
	(cd Examples/RevocationClient && swift build)
	python3 -m pytest Tests/EndToEnd -q -p no:cacheprovider

clean:
	rm -rf .build Integrations/NIOSSL/.build Examples/RevocationClient/.build
