#include <cstdio>
int main() { std::puts("digitnet: under construction"); return 0; }
