/*
 * replay_main.c - a main() for the libFuzzer drivers without libFuzzer: run
 * each file named on the command line through LLVMFuzzerTestOneInput()
 * once. Any compiler builds it, so every build (normal, sanitizers)
 * replays the seed corpora and crash regressions of test/fuzz/.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		unsigned char *data = NULL;
		long n;

		if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
		    (data = malloc((size_t)n + 1)) == NULL || fread(data, 1, (size_t)n, f) != (size_t)n) {
			fprintf(stderr, "replay: cannot read %s\n", argv[i]);
			return 2;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(data, (size_t)n);
		free(data);
	}
	printf("replay: %d input(s) ok\n", argc - 1);
	return 0;
}
