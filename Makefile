# The two commands of the README, and a few conveniences around CMake.
#   make demo   install what is missing, build, run the whole pipeline on loopback
#   make test   install what is missing, build, run every unit and integration test
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps deps-demo test unit demo asan clean format reference

all: build

deps:
	@./deploy/install-deps.sh

deps-demo:
	@./deploy/install-deps.sh --demo

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600 --resource-spec-file $(CURDIR)/tests/resources.json

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

demo: deps-demo
	@$(MAKE) --no-print-directory build
	./deploy/demo.sh $(BUILD)/ferry

asan:
	$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DFERRY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" test

reference: build
	{ sed '/<!-- reference:begin -->/q' docs/configuration.md; $(BUILD)/ferry config reference; \
	  echo '<!-- reference:end -->'; } > docs/configuration.md.tmp && mv docs/configuration.md.tmp docs/configuration.md

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan
