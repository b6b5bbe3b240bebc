//! `oxmq keygen`: CURVE key pairs in Z85, as libzmq's `zmq_curve_keypair` and
//! `zmq_curve_public` make them.

use oxmq::curve::{KeyPair, SecretKey};

/// Arguments of `oxmq keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Print the public key of this Z85 secret key instead of making a new pair.
    #[arg(long, value_name = "Z85")]
    public_from: Option<String>,
}

/// Runs `oxmq keygen`: prints `public-key: <z85>` and, for a new pair, `secret-key: <z85>`.
pub(crate) fn run(args: &KeygenArgs) -> Result<(), String> {
    print!("{}", render(args)?);
    Ok(())
}

fn render(args: &KeygenArgs) -> Result<String, String> {
    match &args.public_from {
        Some(secret) => {
            let secret =
                SecretKey::from_z85(secret.trim()).map_err(|e| format!("--public-from: {e}"))?;
            Ok(format!("public-key: {}\n", secret.public_key().to_z85()))
        }
        None => {
            let pair = KeyPair::generate();
            Ok(format!(
                "public-key: {}\nsecret-key: {}\n",
                pair.public.to_z85(),
                pair.secret.to_z85()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pair_and_its_public_key_agree() {
        let out = render(&KeygenArgs { public_from: None }).expect("keygen");
        let lines: Vec<&str> = out.lines().collect();
        let public = lines[0].strip_prefix("public-key: ").expect("public line");
        let secret = lines[1].strip_prefix("secret-key: ").expect("secret line");
        assert_eq!((public.len(), secret.len()), (40, 40));
        let derived = render(&KeygenArgs {
            public_from: Some(secret.to_owned()),
        })
        .expect("public-from");
        assert_eq!(derived, format!("public-key: {public}\n"));
    }

    #[test]
    fn public_from_matches_libzmqs_own_test_vector() {
        // The pair in libzmq's tests/test_security_curve.cpp (zmq_curve_public).
        let args = KeygenArgs {
            public_from: Some("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6".into()),
        };
        assert_eq!(
            render(&args).expect("public-from"),
            "public-key: rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n"
        );
    }

    #[test]
    fn a_bad_secret_is_an_error() {
        let args = KeygenArgs {
            public_from: Some("not a key".into()),
        };
        assert!(render(&args).is_err());
    }
}
