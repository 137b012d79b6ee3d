module stagegate/bench/floor

go 1.19
