// Package deploy holds what the production-like deployment needs besides the
// binaries, and the tests that hold docker-compose.yml, the Dockerfile,
// .env.example and make run's launcher (tools/cmd/run: its variables, its
// search attributes) to the code:
//
//   - httpprobe: the image's health-check command (the runtime image is
//     distroless: no shell, no curl);
//   - temporal/: the Temporal schema job, the namespace and search-attribute
//     job, and the server's dynamic configuration;
//   - postgres/: the first-start script that creates the application's role
//     and database;
//   - haproxy/: the config of the proxy in front of the starter replicas
//     (`docker compose up --scale starter=N`), which routes AWDA's pushes
//     and the API by their readiness paths (compose_proxy_test.go checks it
//     against the compose file and the code).
//
// No Docker engine is needed for the tests: they parse the compose file,
// resolve its variables the way docker compose does with an .env written by
// deploy/compose-env.sh, and check services, images, ports, health checks,
// dependencies and every environment variable the worker and the starter
// require, as the configuration code itself declares them. When
// `docker compose` is installed they also run `docker compose config`.
package deploy
