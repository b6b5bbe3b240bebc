//! The README's quickstart programs, compiled and run, and checked to be the ones the README
//! prints: each `mod` below holds one ```rust block of README.md verbatim (up to indentation).

mod blocking {
    use oxmq::{Context, SocketType};

    fn main() -> oxmq::Result<()> {
        let ctx = Context::new();

        let mut rep = ctx.socket(SocketType::Rep)?;
        rep.bind("tcp://127.0.0.1:*")?; // any free port; last_endpoint() says which
        let endpoint = rep.last_endpoint();

        let mut req = ctx.socket(SocketType::Req)?;
        req.set_rcvtimeo(5000)?; // fail with ErrorKind::WouldBlock instead of waiting forever
        req.connect(&endpoint)?;

        req.send("hello")?;
        let request = rep.recv()?;
        assert_eq!(request.data(), b"hello");
        rep.send_multipart(["world", "and more"])?;

        let reply = req.recv_multipart()?;
        assert_eq!(reply[0].data(), b"world");
        assert_eq!(reply[1].data(), b"and more");
        Ok(())
    }

    #[test]
    fn runs() {
        main().expect("the blocking quickstart");
    }
}

mod r#async {
    use oxmq::{Context, SocketType};

    #[tokio::main]
    async fn main() -> oxmq::Result<()> {
        let ctx = Context::new();

        let mut pull = ctx.socket(SocketType::Pull)?;
        pull.bind("tcp://127.0.0.1:*")?;
        let mut push = ctx.socket(SocketType::Push)?;
        push.connect(&pull.last_endpoint())?;

        let producer = tokio::spawn(async move {
            for i in 0..3 {
                let n = i.to_string();
                push.send_multipart_async(["job", n.as_str()]).await?;
            }
            Ok::<_, oxmq::Error>(())
        });

        for i in 0..3 {
            let job = pull.recv_multipart_async().await?;
            assert_eq!(job[0].data(), b"job");
            assert_eq!(job[1].data(), i.to_string().as_bytes());
        }
        producer.await.expect("producer task")?;
        Ok(())
    }

    #[test]
    fn runs() {
        main().expect("the async quickstart");
    }
}

mod security {
    use oxmq::{auth::Authenticator, curve::KeyPair, Context, SocketType};

    fn main() -> oxmq::Result<()> {
        let ctx = Context::new();
        let server_keys = KeyPair::generate();
        let client_keys = KeyPair::generate();

        let auth = Authenticator::start(&ctx)?; // a ZAP handler thread
        auth.configure_curve("*", [&client_keys.public]); // only this client may connect

        let mut server = ctx.socket(SocketType::Rep)?;
        server.set_curve_server(true)?;
        server.set_curve_secret_key(&server_keys.secret)?;
        server.bind("tcp://127.0.0.1:*")?;

        let mut client = ctx.socket(SocketType::Req)?;
        client.set_curve_keypair(&client_keys)?;
        client.set_curve_server_key(&server_keys.public)?;
        client.connect(&server.last_endpoint())?;
        client.send("secret")?;

        let request = server.recv()?;
        let user = client_keys.public.to_z85(); // the authenticator's User-Id for CURVE
        assert_eq!(request.property("User-Id"), Some(user.as_bytes()));
        Ok(())
    }

    #[test]
    fn runs() {
        main().expect("the security example");
    }
}

mod busy_wait {
    fn main() -> oxmq::Result<()> {
        let ctx = oxmq::Context::new();
        ctx.set_busy_wait(false)?; // before the first socket

        // The context's sockets then sleep at once when they wait, and still deliver.
        let mut pull = ctx.socket(oxmq::SocketType::Pull)?;
        pull.bind("inproc://readme-busy-wait")?;
        pull.set_rcvtimeo(5000)?;
        let mut push = ctx.socket(oxmq::SocketType::Push)?;
        push.connect("inproc://readme-busy-wait")?;
        push.send("job")?;
        assert_eq!(pull.recv()?.data(), b"job");
        assert!(
            ctx.set_busy_wait(true).is_err(),
            "only before the first socket"
        );
        Ok(())
    }

    #[test]
    fn runs() {
        main().expect("the busy-wait example");
    }
}

/// Every ```rust block of the README appears in this file, line by line (indentation aside).
#[test]
fn readme_blocks_are_the_programs_tested_here() {
    let readme = include_str!("../../../README.md");
    let here: Vec<&str> = include_str!("readme.rs").lines().map(str::trim).collect();
    let mut blocks = 0;
    let mut rest = readme;
    while let Some(start) = rest.find("```rust\n") {
        let body = &rest[start + "```rust\n".len()..];
        let end = body
            .find("```")
            .expect("unterminated ```rust block in README.md");
        let block: Vec<&str> = body[..end].lines().map(str::trim).collect();
        let found = here.windows(block.len()).any(|w| w == block.as_slice());
        assert!(
            found,
            "README.md's rust block #{} is not in tests/readme.rs:\n{}",
            blocks + 1,
            &body[..end]
        );
        blocks += 1;
        rest = &body[end + 3..];
    }
    assert_eq!(
        blocks, 4,
        "README.md has a blocking and an async quickstart, a security example and the busy-wait \
         switch"
    );
}
